package main

import (
	"context"
	"errors"

	"voicetoken/internal/token"
)

const smokeUsage = `Usage: voicetoken smoke [flags]

Joins a real LiveKit room with two participants and does a data round
trip (the seed's step 4). NOT AVAILABLE YET: it needs a WebRTC client, and
LiveKit's Go SDK (server-sdk-go v2.13.0) does not build against the
livekit/protocol version this module uses. Until then, use
'voicetoken check --livekit-url URL' (LiveKit up and accepting our key).`

// errSmokeUnavailable is what `voicetoken smoke` answers for now.
var errSmokeUnavailable = errors.New("not available yet: joining a room needs a WebRTC client that is not built in; 'voicetoken check --livekit-url URL' checks that LiveKit is up and accepts our key")

func runSmoke(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "smoke", smokeUsage)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	return &exitError{code: token.ExitUsage, err: errSmokeUnavailable}
}
