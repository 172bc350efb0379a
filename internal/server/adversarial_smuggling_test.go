package server_test

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"voicetoken/internal/logscan"
	"voicetoken/internal/server"
)

// TestAdversarialRequestSmuggling talks raw HTTP/1.1 to Server.Serve: a
// request whose framing a proxy in front could read differently
// (Content-Length and Transfer-Encoding both, RFC 9112 6.1) gets one 400
// and the connection is closed, so the request hidden in its body is
// never answered. A control row shows the test sees a second answer when
// there is one.
func TestAdversarialRequestSmuggling(t *testing.T) {
	l := logscan.New(t)
	l.Secret(backendKey, botKey)
	addr := serveOnLoopback(t, l, server.Config{})
	smuggled := "GET /api/token?room=test-room&identity=victim HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
	chunk := func(s string) string { return strconv.FormatInt(int64(len(s)), 16) + "\r\n" + s + "\r\n" }
	post := func(headers, body string) string {
		return "POST /api/token HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n" + headers + "\r\n" + body
	}
	tests := []struct {
		name string
		send string
		want []int // the statuses answered, in order, before the server closes
	}{
		{name: "CL.TE: chunked body ends early, the rest is a request",
			send: post("Content-Length: "+strconv.Itoa(5+len(smuggled))+"\r\nTransfer-Encoding: chunked\r\n", "0\r\n\r\n"+smuggled),
			want: []int{400}},
		{name: "TE.CL: a request inside a chunk",
			send: post("Transfer-Encoding: chunked\r\nContent-Length: 4\r\n", chunk(smuggled)+"0\r\n\r\n"+smuggled),
			want: []int{400}},
		{name: "CL and TE, the body a valid request",
			send: post("Content-Length: 2\r\nTransfer-Encoding: chunked\r\n", chunk("{}")+"0\r\n\r\n"+smuggled),
			want: []int{400}},
		{name: "TE with odd case",
			send: post("Content-Length: 5\r\nTransfer-Encoding: ChUnKeD\r\n", "0\r\n\r\n"+smuggled),
			want: []int{400}},
		{name: "TE twice",
			send: post("Content-Length: 5\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n", "0\r\n\r\n"+smuggled),
			want: []int{501}},
		{name: "TE gzip, chunked",
			send: post("Content-Length: 5\r\nTransfer-Encoding: gzip, chunked\r\n", "0\r\n\r\n"+smuggled),
			want: []int{501}},
		{name: "two Content-Lengths",
			send: post("Content-Length: 5\r\nContent-Length: 7\r\n", "0\r\n\r\n"+smuggled),
			want: []int{400}},
		{name: "chunked alone, then a pipelined request",
			send: post("Transfer-Encoding: chunked\r\n", chunk(`{"room_name":"test-room"}`)+"0\r\n\r\n"+smuggled),
			want: []int{400}},
		{name: "control: Content-Length, then a pipelined request",
			send: post("Content-Length: 2\r\n", "{}") + strings.Replace(smuggled, "\r\n\r\n", "\r\nConnection: close\r\n\r\n", 1),
			want: []int{201, 200}},
	}
	held, failed := 0, 0
	for _, tc := range tests {
		ok := t.Run(tc.name, func(t *testing.T) {
			c, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			// The deadline bounds a server that keeps the connection
			// open (the failure); a close ends the read at once.
			c.SetDeadline(time.Now().Add(5 * time.Second))
			if _, err := io.WriteString(c, tc.send); err != nil {
				t.Fatal(err)
			}
			br := bufio.NewReader(c)
			var got []int
			for {
				resp, err := http.ReadResponse(br, nil)
				if err != nil {
					if errors.Is(err, os.ErrDeadlineExceeded) {
						t.Errorf("the connection was left open after %v", got)
					} else if !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
						t.Errorf("reading answers after %v: %v", got, err)
					}
					break
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				got = append(got, resp.StatusCode)
				if resp.StatusCode == 200 || resp.StatusCode == 201 {
					l.Issued(tokenIn(body))
				}
			}
			if len(got) != len(tc.want) {
				t.Fatalf("answers %v, want %v", got, tc.want)
			}
			for i := range got {
				if got[i] != tc.want[i] {
					t.Fatalf("answers %v, want %v", got, tc.want)
				}
			}
		})
		if ok {
			held++
		} else {
			failed++
		}
	}
	t.Logf("ADVERSARIAL scenario=request-smuggling tried=content-length-and-transfer-encoding-framing-over-raw-tcp times=%d held=%d failed=%d", len(tests), held, failed)
}

// tokenIn is the token of either contract's answer, "" if none.
func tokenIn(body []byte) string {
	for _, k := range []string{`"token":"`, `"participant_token":"`} {
		if _, rest, ok := strings.Cut(string(body), k); ok {
			tok, _, _ := strings.Cut(rest, `"`)
			return tok
		}
	}
	return ""
}
