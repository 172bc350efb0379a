package main

// commands lists the subcommands in help order. Each lives in its own file.
func commands() []command {
	return []command{
		{name: "mint", summary: "mint a LiveKit access token", run: runMint},
		{name: "verify", summary: "check a token's signature and times: VALID, EXPIRED, ... (exit 0/1/2)", run: runVerify},
		{name: "inspect", summary: "decode a token without any key; verifies nothing", run: runInspect},
		{name: "serve", summary: "run the token API, the voice page, health and metrics", run: runServe},
		{name: "rotate", summary: "replace an agent's upstream token in its secret store, atomically", run: runRotate},
		{name: "run", summary: "run an agent with its upstream token; restart it when the token changes", run: runRun},
		{name: "proxy", summary: "reverse proxy that adds the agent's current upstream token", run: runProxy},
		{name: "check", summary: "run the operator's runbook checks (tokens, LiveKit, token API)", run: runCheck},
		{name: "smoke", summary: "join a real LiveKit room with two participants and do a round trip", run: runSmoke},
		{name: "health", summary: "exit 0 if a serve's /healthz answers 200 (container health checks)", run: runHealth},
		{name: "version", summary: "print the version, commit, date and Go version (--json)", run: runVersion},
		{name: "completion", summary: "print a bash, zsh or fish completion script", run: runCompletion},
	}
}
