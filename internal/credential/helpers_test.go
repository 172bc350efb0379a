package credential_test

import (
	"voicetoken/internal/logscan"
)

// The shared helpers live in internal/logscan.
type logs = logscan.Logs

var (
	newLogs    = logscan.New
	mkToken    = logscan.Token
	tokenExp   = logscan.TokenExp
	eventually = logscan.Eventually
)
