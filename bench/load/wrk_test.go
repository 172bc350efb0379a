package main

import (
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestParseWrk(t *testing.T) {
	tests := []struct {
		file     string
		requests int64
		errors   int64
		rate     float64
		p50, p99 float64
	}{
		{"wrk-ok.txt", 87642, 0, 43599.10, 0.526, 6.99},
		// Every answer a 400: no good requests, so no rate either.
		{"wrk-non2xx.txt", 0, 30815, 0, 0.194, 5.87},
		// A server that closes after each answer: wrk counts read errors.
		{"wrk-socket-errors.txt", 1, 21280, 19342.81 / 21281, 0.071, 0.289},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			b, err := os.ReadFile(filepath.Join("testdata", tt.file))
			if err != nil {
				t.Fatal(err)
			}
			r, err := parseWrk(string(b))
			if err != nil {
				t.Fatal(err)
			}
			if r.Requests != tt.requests || r.Errors != tt.errors {
				t.Errorf("requests, errors = %d, %d; want %d, %d", r.Requests, r.Errors, tt.requests, tt.errors)
			}
			for _, f := range []struct {
				name      string
				got, want float64
			}{{"req/s", r.ReqPerSec, tt.rate}, {"p50 ms", r.P50ms, tt.p50}, {"p99 ms", r.P99ms, tt.p99}} {
				if math.Abs(f.got-f.want) > 1e-6*math.Max(1, f.want) {
					t.Errorf("%s = %v, want %v", f.name, f.got, f.want)
				}
			}
		})
	}
}

func TestParseWrkRefuses(t *testing.T) {
	ok, err := os.ReadFile(filepath.Join("testdata", "wrk-ok.txt"))
	if err != nil {
		t.Fatal(err)
	}
	tests := map[string]string{
		"connection refused": "unable to connect to 127.0.0.1:9999 Connection refused\n",
		"no --latency":       strings.Replace(string(ok), "     99%    6.99ms\n", "", 1),
		"bad latency unit":   strings.Replace(string(ok), "6.99ms", "6.99xs", 1),
		"bad count":          strings.Replace(string(ok), "87642 requests", "lots requests", 1),
		"bad socket errors":  strings.Replace(string(ok), "Requests/sec", "  Socket errors: connect x, read 0\nRequests/sec", 1),
	}
	for name, out := range tests {
		t.Run(name, func(t *testing.T) {
			if r, err := parseWrk(out); err == nil {
				t.Fatalf("parseWrk accepted it: %+v", r)
			}
		})
	}
}

func TestWrkMillis(t *testing.T) {
	tests := map[string]float64{"750.00us": 0.75, "1.38ms": 1.38, "2.01s": 2010, "1.00m": 60000, "0.50h": 1800000}
	for in, want := range tests {
		if got, err := wrkMillis(in); err != nil || math.Abs(got-want) > 1e-9 {
			t.Errorf("wrkMillis(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "ms", "-1ms", "1.0", "1.0 ms", "NaNus"} {
		if got, err := wrkMillis(in); err == nil {
			t.Errorf("wrkMillis(%q) = %v, want an error", in, got)
		}
	}
}

func FuzzParseWrk(f *testing.F) {
	for _, name := range []string{"wrk-ok.txt", "wrk-non2xx.txt", "wrk-socket-errors.txt"} {
		b, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(string(b))
	}
	f.Fuzz(func(t *testing.T, out string) {
		r, err := parseWrk(out)
		if err != nil {
			return
		}
		if r.Requests < 0 || r.Errors < 0 || r.P50ms < 0 || r.P99ms < 0 {
			t.Fatalf("negative figure from %q: %+v", out, r)
		}
	})
}

// TestWrkDriver runs the real wrk (CI installs it) against a local server:
// good answers are counted as requests, bad ones as errors.
func TestWrkDriver(t *testing.T) {
	bin, err := exec.LookPath("wrk")
	if err != nil {
		t.Skip("wrk not installed (apt-get install wrk); .ci/run installs it")
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("fail") != "" {
			http.Error(w, "no", http.StatusServiceUnavailable)
			return
		}
		w.Write([]byte(`{"ok":true}`))
	}))
	defer srv.Close()
	d := wrkDriver{bin: bin, threads: 1}

	r := d.drive(srv.URL+"/api/token", 2, 0, time.Second)
	if r.Err != "" || r.Requests == 0 || r.Errors != 0 || r.ReqPerSec <= 0 || r.P50ms <= 0 || r.P99ms < r.P50ms {
		t.Errorf("good answers: %+v", r)
	}
	r = d.drive(srv.URL+"/api/token?fail=1", 2, 0, time.Second)
	if r.Err != "" || r.Requests != 0 || r.Errors == 0 || r.ReqPerSec != 0 {
		t.Errorf("503 answers: %+v", r)
	}
	r = d.drive("http://127.0.0.1:1/", 2, 0, time.Second)
	if r.Err == "" {
		t.Errorf("nothing listening: %+v, want an error", r)
	}
}
