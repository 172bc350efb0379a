package upstream_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"testing"
	"time"

	"voicetoken/internal/hostlist"
	"voicetoken/internal/upstream"
)

// BenchmarkProxyREST is issue 25's comparison in-process, for pprof:
// `go test -bench ProxyREST -cpuprofile cpu.out ./internal/upstream`.
// "baseline" is a plain httputil.ReverseProxy that sets Authorization;
// "voicetoken" is the Guard, NewProxy and Transport as the command
// builds them. bench/proxy.sh measures the real binaries with wrk.
func BenchmarkProxyREST(b *testing.B) {
	l := newLogs(b)
	tok := tokenExp(b, time.Now(), time.Hour)
	l.Secret(tok)
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"ok":true,"id":"0123456789abcdef0123"}`+"\n")
	}))
	defer up.Close()
	u, _ := url.Parse(up.URL)
	hosts, _ := hostlist.New(nil)
	handlers := []struct {
		name string
		h    http.Handler
	}{
		{"baseline", &httputil.ReverseProxy{
			Rewrite: func(pr *httputil.ProxyRequest) {
				pr.SetURL(u)
				pr.Out.Header.Set("Authorization", "Bearer "+tok)
			},
			Transport: &http.Transport{MaxIdleConnsPerHost: 64},
		}},
		{"voicetoken", &upstream.Guard{Hosts: &hosts, Logger: l.Logger(), Next: upstream.NewProxy(u, &upstream.Transport{Source: newStatic(b, tok), Logger: l.Logger()})}},
	}
	for _, hd := range handlers {
		b.Run(hd.name, func(b *testing.B) {
			px := httptest.NewServer(hd.h)
			defer px.Close()
			client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
			b.SetParallelism(8)
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					resp, err := client.Get(px.URL + "/v1/rooms")
					if err != nil {
						b.Error(err)
						return
					}
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
			})
		})
	}
}
