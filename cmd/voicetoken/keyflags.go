package main

import (
	"flag"
	"fmt"

	"voicetoken/internal/keys"
)

// keyFlags are the flags every command that signs or verifies shares. They
// mirror LiveKit's names; the environment fills what flags leave empty.
type keyFlags struct {
	apiKey, apiSecret, envFile, keyFile, primary string
}

func (k *keyFlags) register(fs *flag.FlagSet) {
	k.registerVerify(fs)
	fs.StringVar(&k.primary, "key", "", "which API key of several signs (default: the first)")
}

// registerVerify registers the flags of a command that only verifies:
// every key source, not --key (which key signs).
func (k *keyFlags) registerVerify(fs *flag.FlagSet) {
	fs.StringVar(&k.apiKey, "api-key", "", "LiveKit API key (env LIVEKIT_API_KEY)")
	fs.StringVar(&k.apiSecret, "api-secret", "", "LiveKit API secret (env LIVEKIT_API_SECRET); prefer the env or a file: argv is visible in ps")
	fs.StringVar(&k.envFile, "env-file", "", "read LIVEKIT_API_KEY, LIVEKIT_API_SECRET (and LIVEKIT_URL where a command uses it) from this .env file")
	fs.StringVar(&k.keyFile, "key-file", "", "LiveKit key file, \"key: secret\" per line (env VOICETOKEN_KEY_FILE)")
}

// load reads the keys; with nothing configured and allowDev it falls back to
// LiveKit's dev pair. Warnings go to stderr as one line each.
func (k *keyFlags) load(e *env, allowDev bool) (*keys.Set, error) {
	set, err := keys.Load(keys.Config{
		APIKey: k.apiKey, APISecret: k.apiSecret, EnvFile: k.envFile, KeyFile: k.keyFile,
		Primary: k.primary, Getenv: e.getenv, AllowDev: allowDev,
	})
	if err != nil {
		return nil, fmt.Errorf("load API keys: %w", err)
	}
	for _, w := range set.Warnings {
		fmt.Fprintf(e.stderr, "WARNING: %s\n", w)
	}
	return set, nil
}

// livekitURL is the LiveKit URL a command uses: the flag's value, else
// LIVEKIT_URL from the environment, else from --env-file, else def.
func (k *keyFlags) livekitURL(e *env, flagValue, def string) (string, error) {
	if flagValue != "" {
		return flagValue, nil
	}
	u, err := keys.LiveKitURL(keys.Config{EnvFile: k.envFile, Getenv: e.getenv})
	if err != nil {
		return "", err
	}
	if u == "" {
		return def, nil
	}
	return u, nil
}

// configured reports whether any key source was named, so verify can tell
// "check with the dev key" from "no key: do not check the signature".
func (k *keyFlags) configured(e *env) bool {
	return k.apiKey != "" || k.apiSecret != "" || k.envFile != "" || k.keyFile != "" ||
		e.getenv(keys.EnvAPIKey) != "" || e.getenv(keys.EnvAPISecret) != "" ||
		e.getenv(keys.EnvKeys) != "" || e.getenv(keys.EnvKeyFile) != ""
}
