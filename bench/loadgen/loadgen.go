// Package loadgen is the load generator shared by voicetoken's benchmark
// (bench/load) and its adversarial suite (bench/adversarial): a minimal
// keep-alive HTTP/1.1 client on raw TCP, one request in flight per
// connection (like wrk), and readers of a process's RSS and CPU time from
// /proc.
//
// It is deliberately not net/http: the client shares two cores with the
// server under test, so it must cost as little as possible. Bodies are
// discarded unless the caller asks to see them (Options.OnResponse), in
// which case the body is handed over in place, without a copy.
package loadgen

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Options configures Run.
type Options struct {
	// Conns is the number of connections, each with one request in flight.
	Conns int
	// Duration is how long to drive the server.
	Duration time.Duration
	// OnResponse, if set, sees every response: the connection's index
	// (0..Conns-1, so a callback can keep per-connection state without
	// locks), when the request was sent, its status and its body. body is
	// only valid during the call. It runs on the connection's goroutine
	// and delays its next request, so keep it cheap.
	OnResponse func(conn int, sent time.Time, status int, body []byte)
}

// Result is what Run measured.
type Result struct {
	// Latencies of the 200 responses, unsorted.
	Latencies []time.Duration
	// Requests answered 200.
	Requests int64
	// Errors: non-200 answers and failed connections (each replaced).
	Errors int64
	// Elapsed wall time.
	Elapsed time.Duration
}

// Request returns the raw GET request for u that Run sends.
func Request(host, requestURI string) []byte {
	return []byte("GET " + requestURI + " HTTP/1.1\r\nHost: " + host + "\r\nUser-Agent: voicetoken-load\r\nAccept: */*\r\n\r\n")
}

// Run keeps one request in flight on each of opts.Conns connections to
// host until opts.Duration has passed. A failed connection counts an
// error and is replaced.
func Run(host string, req []byte, opts Options) Result {
	ctx, cancel := context.WithTimeout(context.Background(), opts.Duration)
	defer cancel()
	var (
		mu  sync.Mutex
		wg  sync.WaitGroup
		res Result
	)
	t0 := time.Now()
	for conn := range opts.Conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			mine := make([]time.Duration, 0, 1<<16)
			var n, e int64
			defer func() {
				mu.Lock()
				res.Latencies = append(res.Latencies, mine...)
				res.Requests += n
				res.Errors += e
				mu.Unlock()
			}()
			for ctx.Err() == nil {
				c, err := net.Dial("tcp", host)
				if err != nil {
					e++
					time.Sleep(time.Millisecond)
					continue
				}
				stopClose := context.AfterFunc(ctx, func() { c.Close() })
				br := bufio.NewReaderSize(c, 8192)
				for ctx.Err() == nil {
					s := time.Now()
					if _, err := c.Write(req); err != nil {
						break
					}
					var body func(int, []byte)
					if opts.OnResponse != nil {
						body = func(status int, b []byte) { opts.OnResponse(conn, s, status, b) }
					}
					status, keep, err := ReadResponse(br, body)
					if err != nil {
						if ctx.Err() == nil {
							e++
						}
						break
					}
					if status != 200 {
						e++
					} else {
						n++
						mine = append(mine, time.Since(s))
					}
					if !keep {
						break
					}
				}
				stopClose()
				c.Close()
			}
		}()
	}
	wg.Wait()
	res.Elapsed = time.Since(t0)
	return res
}

// ReadResponse reads one HTTP/1.1 response. It understands Content-Length
// and chunked bodies, and Connection: close. With a nil onBody the body
// is discarded without being looked at; otherwise onBody gets the status
// and the body (a view into br's buffer when it fits, valid only during
// the call).
func ReadResponse(br *bufio.Reader, onBody func(status int, body []byte)) (status int, keepAlive bool, err error) {
	line, err := br.ReadSlice('\n')
	if err != nil {
		return 0, false, err
	}
	if len(line) < 12 || string(line[:5]) != "HTTP/" {
		return 0, false, fmt.Errorf("bad status line %q", line)
	}
	for _, c := range line[9:12] {
		if c < '0' || c > '9' {
			return 0, false, fmt.Errorf("bad status line %q", line)
		}
		status = status*10 + int(c-'0')
	}
	length, chunked, keepAlive := -1, false, true
	for {
		h, err := br.ReadSlice('\n')
		if err != nil {
			return 0, false, err
		}
		if len(h) <= 2 {
			break
		}
		// Byte-wise, without allocating: the client shares the CPUs with
		// the server under test, so it must stay cheap.
		i := bytes.IndexByte(h, ':')
		if i < 0 {
			continue
		}
		k, v := h[:i], bytes.TrimSpace(h[i+1:])
		switch {
		case bytes.EqualFold(k, []byte("content-length")):
			length = 0
			for _, c := range v {
				if c < '0' || c > '9' || length > 1<<30 {
					return 0, false, fmt.Errorf("bad content-length %q", v)
				}
				length = length*10 + int(c-'0')
			}
		case bytes.EqualFold(k, []byte("transfer-encoding")):
			chunked = bytes.EqualFold(v, []byte("chunked"))
		case bytes.EqualFold(k, []byte("connection")):
			keepAlive = !bytes.EqualFold(v, []byte("close"))
		}
	}
	var buf []byte // body assembled when it does not fit br's buffer or is chunked
	switch {
	case chunked:
		for {
			l, err := br.ReadSlice('\n')
			if err != nil {
				return 0, false, err
			}
			size, err := strconv.ParseInt(strings.TrimSpace(strings.SplitN(string(l), ";", 2)[0]), 16, 64)
			if err != nil || size < 0 || size > 1<<30 {
				return 0, false, fmt.Errorf("bad chunk size %q", l)
			}
			if onBody != nil && size > 0 {
				start := len(buf)
				buf = append(buf, make([]byte, size)...)
				if _, err := io.ReadFull(br, buf[start:]); err != nil {
					return 0, false, err
				}
				if _, err := br.Discard(2); err != nil {
					return 0, false, err
				}
			} else if _, err := br.Discard(int(size) + 2); err != nil {
				return 0, false, err
			}
			if size == 0 {
				break
			}
		}
		if onBody != nil {
			onBody(status, buf)
		}
	case length >= 0:
		if onBody != nil {
			if length <= br.Size() {
				b, err := br.Peek(length)
				if err != nil {
					return 0, false, err
				}
				onBody(status, b)
			} else {
				buf = make([]byte, length)
				if _, err := io.ReadFull(br, buf); err != nil {
					return 0, false, err
				}
				onBody(status, buf)
				return status, keepAlive, nil
			}
		}
		if _, err := br.Discard(length); err != nil {
			return 0, false, err
		}
	default:
		if onBody != nil {
			b, err := io.ReadAll(br)
			if err != nil {
				return 0, false, err
			}
			onBody(status, b)
		} else {
			io.Copy(io.Discard, br)
		}
		keepAlive = false
	}
	return status, keepAlive, nil
}

// CPUTime reads user+system CPU time of pid from /proc (clock ticks of
// 10ms); 0 when it cannot.
func CPUTime(pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * 10 * time.Millisecond
}

// RSSMB reads VmRSS of pid from /proc, in MiB; 0 when it cannot.
func RSSMB(pid int) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
			return kb / 1024
		}
	}
	return 0
}
