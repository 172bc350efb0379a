package loadgen_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"voicetoken/bench/loadgen"
)

func TestReadResponse(t *testing.T) {
	tests := []struct {
		name      string
		raw       string
		wantSt    int
		wantKeep  bool
		wantBody  string
		wantErr   bool
		wantLeft  string // what the reader still holds (the next response)
		bigBuffer bool
	}{
		{name: "content-length", raw: "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhelloNEXT", wantSt: 200, wantKeep: true, wantBody: "hello", wantLeft: "NEXT"},
		{name: "connection close", raw: "HTTP/1.1 429 Too Many\r\nConnection: close\r\nContent-Length: 2\r\n\r\nno", wantSt: 429, wantBody: "no"},
		{name: "chunked", raw: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2;x=y\r\nde\r\n0\r\n\r\nNEXT", wantSt: 200, wantKeep: true, wantBody: "abcde", wantLeft: "NEXT"},
		{name: "no length reads to EOF", raw: "HTTP/1.1 200 OK\r\n\r\nall of it", wantSt: 200, wantBody: "all of it"},
		{name: "body larger than the buffer", raw: "HTTP/1.1 200 OK\r\nContent-Length: 5000\r\n\r\n" + strings.Repeat("x", 5000) + "NEXT", wantSt: 200, wantKeep: true, wantBody: strings.Repeat("x", 5000), wantLeft: "NEXT"},
		{name: "bad status line", raw: "HTTP/1.1 2x0 OK\r\n\r\n", wantErr: true},
		{name: "not HTTP", raw: "SSH-2.0-OpenSSH\r\n\r\n", wantErr: true},
		{name: "bad content-length", raw: "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", wantErr: true},
		{name: "bad chunk size", raw: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", wantErr: true},
		{name: "truncated body", raw: "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, withBody := range []bool{false, true} {
				br := bufio.NewReaderSize(strings.NewReader(tt.raw), 4096)
				var got *string
				var onBody func(int, []byte)
				if withBody {
					onBody = func(st int, b []byte) { s := string(b); got = &s }
				}
				st, keep, err := loadgen.ReadResponse(br, onBody)
				if tt.wantErr {
					if err == nil {
						t.Fatalf("withBody=%v: no error", withBody)
					}
					continue
				}
				if err != nil {
					t.Fatalf("withBody=%v: %v", withBody, err)
				}
				if st != tt.wantSt || keep != tt.wantKeep {
					t.Errorf("withBody=%v: status %d keep %v, want %d %v", withBody, st, keep, tt.wantSt, tt.wantKeep)
				}
				if withBody && (got == nil || *got != tt.wantBody) {
					t.Errorf("body %v, want %q", got, tt.wantBody)
				}
				if left, _ := io.ReadAll(br); string(left) != tt.wantLeft {
					t.Errorf("withBody=%v: left %q, want %q", withBody, left, tt.wantLeft)
				}
			}
		})
	}
}

func FuzzReadResponse(f *testing.F) {
	f.Add([]byte("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"))
	f.Add([]byte("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"))
	f.Add([]byte("HTTP/1.1 500 x\r\nConnection: close\r\n\r\nbody"))
	f.Fuzz(func(t *testing.T, raw []byte) {
		br := bufio.NewReaderSize(strings.NewReader(string(raw)), 4096)
		st, _, err := loadgen.ReadResponse(br, func(int, []byte) {})
		if err == nil && (st < 0 || st > 999) {
			t.Fatalf("status %d", st)
		}
	})
}

func TestRun(t *testing.T) {
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if n.Add(1)%10 == 0 {
			http.Error(w, "no", http.StatusTooManyRequests)
			return
		}
		fmt.Fprint(w, `{"token":"x"}`)
	}))
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "http://")
	var bodies, non200 atomic.Int64
	res := loadgen.Run(host, loadgen.Request(host, "/api/token"), loadgen.Options{
		Conns: 2, Duration: 300 * time.Millisecond,
		OnResponse: func(conn int, sent time.Time, status int, body []byte) {
			if conn < 0 || conn > 1 || sent.IsZero() {
				t.Errorf("conn %d sent %v", conn, sent)
			}
			if status != 200 {
				non200.Add(1)
				return
			}
			if string(body) != `{"token":"x"}` {
				t.Errorf("body %q", body)
			}
			bodies.Add(1)
		},
	})
	if res.Requests == 0 || res.Requests != bodies.Load() {
		t.Errorf("requests %d, bodies seen %d", res.Requests, bodies.Load())
	}
	if res.Errors < non200.Load() || non200.Load() == 0 {
		t.Errorf("errors %d, non-200 seen %d", res.Errors, non200.Load())
	}
	if len(res.Latencies) != int(res.Requests) {
		t.Errorf("%d latencies for %d requests", len(res.Latencies), res.Requests)
	}
}

func TestRunCountsRefusedConnections(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	host := ln.Addr().String()
	ln.Close() // nothing listens: every dial fails
	res := loadgen.Run(host, loadgen.Request(host, "/"), loadgen.Options{Conns: 1, Duration: 50 * time.Millisecond})
	if res.Errors == 0 || res.Requests != 0 {
		t.Errorf("errors %d requests %d, want errors and no requests", res.Errors, res.Requests)
	}
}
