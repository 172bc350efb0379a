package credential_test

import (
	"voicetoken/internal/logscan"
	"voicetoken/internal/testkit"
)

// The shared helpers live in internal/logscan.
type logs = logscan.Logs

var (
	newLogs    = logscan.New
	mkToken    = testkit.Token
	tokenExp   = testkit.TokenExp
	eventually = testkit.Eventually
)
