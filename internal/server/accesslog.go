package server

import (
	"context"
	"io"
	"log/slog"
	"sync"
	"time"
)

// issuedLog writes the TOKEN_ISSUED access-log line, the one line written
// per token at full load.
//
// With WithJSONLog the line is rendered here, byte for byte as
// slog.JSONHandler renders it (TestIssuedLineMatchesSlog and
// FuzzIssuedLine compare the two), without the Record, attribute and
// handler-state machinery that made slog a quarter of the handler's
// cost. Only values that need no escaping take this path; anything else
// (a caller name with a quote, non-ASCII; the zero time, which slog
// leaves out) goes through slog, so the bytes never depend on which path
// was taken.
//
// Without WithJSONLog (tests, custom loggers) every line goes through the
// logger.
type issuedLog struct {
	log   *slog.Logger // event=TOKEN_ISSUED pre-rendered
	w     io.Writer    // nil: no fast path
	level slog.Leveler
	pool  sync.Pool // *[]byte
}

func newIssuedLog(log *slog.Logger, w io.Writer, level slog.Leveler) *issuedLog {
	l := &issuedLog{log: log.With(slog.String("event", "TOKEN_ISSUED")), w: w, level: level}
	if l.level == nil {
		l.level = slog.LevelInfo
	}
	l.pool.New = func() any { b := make([]byte, 0, 256); return &b }
	return l
}

// write logs one issued token. The token appears only as its fingerprint;
// the line's time is the request's.
func (l *issuedLog) write(ctx context.Context, at time.Time, caller, room, identity, fp string) {
	if l.w != nil {
		if l.level.Level() > slog.LevelInfo {
			return
		}
		if y := at.Year(); y >= 0 && y < 10000 && !at.IsZero() && plain(caller) && plain(room) && plain(identity) && plain(fp) {
			bp := l.pool.Get().(*[]byte)
			b := append((*bp)[:0], `{"time":"`...)
			b = at.AppendFormat(b, time.RFC3339Nano)
			b = append(b, `","level":"INFO","msg":"token issued","event":"TOKEN_ISSUED","caller":"`...)
			b = append(b, caller...)
			b = append(b, `","room":"`...)
			b = append(b, room...)
			b = append(b, `","identity":"`...)
			b = append(b, identity...)
			b = append(b, `","token":"`...)
			b = append(b, fp...)
			b = append(b, "\"}\n"...)
			_, _ = l.w.Write(b) // a failing log sink must not fail the request
			*bp = b
			l.pool.Put(bp)
			return
		}
	}
	// The record is built here rather than by Logger.LogAttrs, which would
	// capture the caller's PC for a source location no handler here prints.
	h := l.log.Handler()
	if !h.Enabled(ctx, slog.LevelInfo) {
		return
	}
	rec := slog.NewRecord(at, slog.LevelInfo, "token issued", 0)
	rec.AddAttrs(
		slog.String("caller", caller),
		slog.String("room", room),
		slog.String("identity", identity),
		slog.String("token", fp),
	)
	_ = h.Handle(ctx, rec)
}

// plain reports whether s is printable ASCII with nothing JSON escapes
// (slog's JSONHandler leaves < > & as they are).
func plain(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c > 0x7e || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}
