package main

import (
	"context"
	"flag"
	"io"
	"strings"

	"voicetoken/internal/completion"
)

const completionUsage = `Usage: voicetoken completion bash|zsh|fish

Prints a shell completion script: subcommands and each one's flags, read
from the same definitions as -h.

  source <(voicetoken completion bash)                  # bash, now; add to ~/.bashrc to keep
  voicetoken completion zsh > "${fpath[1]}/_voicetoken"  # zsh, then restart it
  voicetoken completion fish > ~/.config/fish/completions/voicetoken.fish`

func runCompletion(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "completion", completionUsage)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return usageErr("want one shell: %s", strings.Join(completion.Shells(), ", "))
	}
	cmds := describeCommands(ctx, e)
	if err := completion.Write(e.stdout, fs.Arg(0), "voicetoken", cmds); err != nil {
		return usageErr("%v", err)
	}
	return nil
}

// describeCommands reads every command's flags by running it with -h and
// an env whose describe hook receives the flag set instead of the help.
func describeCommands(ctx context.Context, e *env) []completion.Command {
	cmds := commands()
	var out []completion.Command
	for _, c := range cmds {
		cc := completion.Command{Name: c.name, Summary: c.summary}
		quiet := &env{stdin: strings.NewReader(""), stdout: io.Discard, stderr: io.Discard,
			getenv: func(string) string { return "" }, now: e.now,
			describe: func(fs *flag.FlagSet, _ []flagGroup) {
				fs.VisitAll(func(f *flag.Flag) {
					b, ok := f.Value.(interface{ IsBoolFlag() bool })
					cc.Flags = append(cc.Flags, completion.Flag{Name: f.Name, Usage: f.Usage, Bool: ok && b.IsBoolFlag()})
				})
			}}
		c.run(ctx, quiet, []string{"-h"})
		if c.name == "completion" {
			cc.Args = completion.Shells()
		}
		out = append(out, cc)
	}
	var names []string
	for _, c := range cmds {
		names = append(names, c.name)
	}
	return append(out, completion.Command{Name: "help", Summary: "show a command's flags", Args: names})
}
