package server

import (
	"bytes"
	"context"
	"log/slog"
	"testing"
	"time"
)

// slogIssued renders the line the slow path writes, through slog itself.
func slogIssued(at time.Time, level slog.Leveler, caller, room, identity, fp string) string {
	var buf bytes.Buffer
	l := newIssuedLog(slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: level})), nil, level)
	l.write(context.Background(), at, caller, room, identity, fp)
	return buf.String()
}

func fastIssued(at time.Time, level slog.Leveler, caller, room, identity, fp string) string {
	var buf bytes.Buffer
	// The logger here writes elsewhere: a line in buf came from the fast path.
	var other bytes.Buffer
	l := newIssuedLog(slog.New(slog.NewJSONHandler(&other, &slog.HandlerOptions{Level: level})), &buf, level)
	l.write(context.Background(), at, caller, room, identity, fp)
	return buf.String() + other.String()
}

func TestIssuedLineMatchesSlog(t *testing.T) {
	at := time.Date(2026, 11, 23, 17, 4, 31, 123456789, time.UTC)
	tests := []struct {
		name                       string
		at                         time.Time
		level                      slog.Level
		caller, room, identity, fp string
		wantFast                   bool
	}{
		{name: "browser", at: at, caller: "browser", room: "test-room", identity: "u1", fp: "0123abcd", wantFast: true},
		{name: "whole nanoseconds", at: at.Truncate(time.Second), caller: "key:ci", room: "a.b_c-d", identity: "user-9f2", fp: "ffffffff", wantFast: true},
		{name: "other zone", at: at.In(time.FixedZone("X", -7*3600)), caller: "browser", room: "r", identity: "i", fp: "00000000", wantFast: true},
		{name: "html characters are not escaped by slog", at: at, caller: "<a&b>", room: "r", identity: "i", fp: "00000000", wantFast: true},
		{name: "quote falls back", at: at, caller: `x"y`, room: "r", identity: "i", fp: "00000000"},
		{name: "backslash falls back", at: at, caller: "browser", room: "r", identity: `a\b`, fp: "00000000"},
		{name: "control character falls back", at: at, caller: "browser", room: "r", identity: "a\x01b", fp: "00000000"},
		{name: "unicode falls back", at: at, caller: "browser", room: "r", identity: "zoë", fp: "00000000"},
		{name: "invalid UTF-8 falls back", at: at, caller: "browser", room: "r", identity: "\xff", fp: "00000000"},
		{name: "year out of range falls back", at: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC), caller: "b", room: "r", identity: "i", fp: "0"},
		{name: "level warn writes nothing", at: at, level: slog.LevelWarn, caller: "browser", room: "r", identity: "i", fp: "0"},
		{name: "level debug writes", at: at, level: slog.LevelDebug, caller: "browser", room: "r", identity: "i", fp: "0", wantFast: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want := slogIssued(tt.at, tt.level, tt.caller, tt.room, tt.identity, tt.fp)
			got := fastIssued(tt.at, tt.level, tt.caller, tt.room, tt.identity, tt.fp)
			if got != want {
				t.Errorf("line differs from slog.JSONHandler's\n got: %s\nwant: %s", got, want)
			}
			if fast := plain(tt.caller) && plain(tt.room) && plain(tt.identity) && plain(tt.fp) && tt.at.Year() < 10000; fast != tt.wantFast && tt.level <= slog.LevelInfo {
				t.Errorf("fast path = %v, want %v", fast, tt.wantFast)
			}
		})
	}
}

func FuzzIssuedLine(f *testing.F) {
	f.Add(int64(1795444250), int64(123), "browser", "test-room", "u1", "0123abcd")
	f.Add(int64(0), int64(0), `"`, "\\", "\x00", "\u2028")
	f.Add(int64(-62135596800), int64(999999999), "<>&", "\xff\xfe", "é", "")
	f.Fuzz(func(t *testing.T, sec, nsec int64, caller, room, identity, fp string) {
		at := time.Unix(sec, nsec%1e9).UTC()
		want := slogIssued(at, slog.LevelInfo, caller, room, identity, fp)
		got := fastIssued(at, slog.LevelInfo, caller, room, identity, fp)
		if got != want {
			t.Errorf("line differs from slog.JSONHandler's\n got: %q\nwant: %q", got, want)
		}
	})
}
