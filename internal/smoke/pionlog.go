package smoke

import (
	"context"
	"fmt"
	"log/slog"
	"sync"

	"github.com/pion/logging"
)

// pionLogs routes pion's logs to our logger at debug level, with a
// stable event key: pion's default logger writes to stderr on its own,
// which would interleave with the report.
type pionLogs struct{ log *slog.Logger }

func (f pionLogs) NewLogger(scope string) logging.LeveledLogger {
	return pionLogger{log: f.log.With(slog.String("event", "smoke_webrtc_log"), slog.String("scope", scope))}
}

type pionLogger struct{ log *slog.Logger }

func (l pionLogger) Trace(string)          {}
func (l pionLogger) Tracef(string, ...any) {}
func (l pionLogger) Debug(string)          {}
func (l pionLogger) Debugf(string, ...any) {}
func (l pionLogger) Info(string)           {}
func (l pionLogger) Infof(string, ...any)  {}

func (l pionLogger) Warn(msg string) { l.log.Debug(msg, slog.String("level_pion", "warn")) }
func (l pionLogger) Warnf(format string, args ...any) {
	l.log.Debug(fmt.Sprintf(format, args...), slog.String("level_pion", "warn"))
}
func (l pionLogger) Error(msg string) { l.log.Debug(msg, slog.String("level_pion", "error")) }
func (l pionLogger) Errorf(format string, args ...any) {
	l.log.Debug(fmt.Sprintf(format, args...), slog.String("level_pion", "error"))
}

// gatedHandler drops every record once its gate is shut. pion calls back
// from its own goroutines, some of them after a peer connection is
// closed; Run shuts the gate before it returns so that nothing is logged
// to the caller's writer after Run has returned.
type gatedHandler struct {
	h    slog.Handler
	gate *gate
}

type gate struct {
	mu   sync.Mutex
	shut bool
}

func (g *gate) close() {
	g.mu.Lock()
	g.shut = true
	g.mu.Unlock()
}

func (h gatedHandler) Enabled(ctx context.Context, l slog.Level) bool { return h.h.Enabled(ctx, l) }

func (h gatedHandler) Handle(ctx context.Context, r slog.Record) error {
	h.gate.mu.Lock()
	defer h.gate.mu.Unlock()
	if h.gate.shut {
		return nil
	}
	return h.h.Handle(ctx, r)
}

func (h gatedHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return gatedHandler{h.h.WithAttrs(as), h.gate}
}

func (h gatedHandler) WithGroup(name string) slog.Handler {
	return gatedHandler{h.h.WithGroup(name), h.gate}
}
