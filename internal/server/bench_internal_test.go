package server

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"voicetoken/internal/keys"
	"voicetoken/internal/policy"
)

// BenchmarkGetToken measures the hot path with policy, metrics and a JSON
// access log on, without the network.
// With the repository's example policy it is what bench/run.sh drives.
func BenchmarkGetToken(b *testing.B) {
	example, err := policy.Load("../../examples/policy.yaml")
	if err != nil {
		b.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		pol  *policy.File
	}{
		{"default-policy", policy.Default()},
		{"example-policy", example},
	} {
		b.Run(tc.name, func(b *testing.B) { benchGetToken(b, tc.pol) })
	}
}

func benchGetToken(b *testing.B, pol *policy.File) {
	ks, _ := keys.NewSet(keys.Pair{Key: "devkey", Secret: "secret"})
	pol.RateLimit.PerAddress = &policy.Rate{Rate: 1e9, Burst: 1 << 30}
	s, err := New(Config{Keys: ks, Policy: pol}, WithJSONLog(io.Discard, slog.LevelInfo))
	if err != nil {
		b.Fatal(err)
	}
	h := s.Handler()
	req := httptest.NewRequest("GET", "/api/token?room=test-room&identity=u1", nil)
	req.Host = "127.0.0.1:9000" // the default address: loopback, so only loopback names pass
	w := &discardWriter{h: http.Header{}}
	b.ReportAllocs()
	for b.Loop() {
		clear(w.h)
		h.ServeHTTP(w, req)
		if w.code != 200 {
			b.Fatal(w.code)
		}
	}
}

type discardWriter struct {
	h    http.Header
	code int
}

func (w *discardWriter) Header() http.Header         { return w.h }
func (w *discardWriter) Write(p []byte) (int, error) { return len(p), nil }
func (w *discardWriter) WriteHeader(c int)           { w.code = c }
