// Command proxybench measures `voicetoken proxy` against the simplest
// proxy that does the same job (issue 25), side by side in one run:
//
//   - an upstream: a Go server answering a 40-byte JSON body, and a
//     WebSocket echo at /ws;
//   - the baseline: httputil.ReverseProxy that sets Authorization, its
//     Transport with MaxIdleConnsPerHost 64;
//   - voicetoken proxy --credential file:... in front of the same upstream.
//
// REST is driven with wrk at each -c (alternating targets, -rounds times,
// the median round reported); WebSocket with one client that sends a
// message and waits for its echo, directly and through the proxy
// (messages/s and per-message latency). bench/proxy.sh builds and runs it.
//
//	proxybench run -voicetoken BIN [-wrk wrk] [-d 6s] [-c 4,32] [-rounds 2]
//	proxybench upstream|baseline ... (started by run)
package main

import (
	"bufio"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/coder/websocket"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: proxybench run|upstream|baseline [flags]")
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "upstream":
		err = serveUpstream(os.Args[2:])
	case "baseline":
		err = serveBaseline(os.Args[2:])
	case "run":
		err = run(os.Args[2:])
	default:
		err = fmt.Errorf("unknown mode %q", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "proxybench:", err)
		os.Exit(1)
	}
}

// body is the upstream's answer: 40 bytes of JSON.
var body = []byte(`{"ok":true,"id":"0123456789abcdef0123"}` + "\n")

func serveUpstream(args []string) error {
	fs := flag.NewFlagSet("upstream", flag.ExitOnError)
	addr := fs.String("addr", "127.0.0.1:0", "listen address")
	fs.Parse(args)
	mux := http.NewServeMux()
	mux.HandleFunc("/ws", func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer c.CloseNow()
		for {
			typ, msg, err := c.Read(r.Context())
			if err != nil {
				return
			}
			if c.Write(r.Context(), typ, msg) != nil {
				return
			}
		}
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasPrefix(r.Header.Get("Authorization"), "Bearer ") {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write(body)
	})
	return listenAndServe(*addr, mux)
}

func serveBaseline(args []string) error {
	fs := flag.NewFlagSet("baseline", flag.ExitOnError)
	addr := fs.String("addr", "127.0.0.1:0", "listen address")
	up := fs.String("upstream", "", "upstream URL")
	tok := fs.String("token", "", "token to send")
	fs.Parse(args)
	u, err := url.Parse(*up)
	if err != nil {
		return err
	}
	rp := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(u)
			pr.Out.Header.Set("Authorization", "Bearer "+*tok)
		},
		Transport: &http.Transport{MaxIdleConnsPerHost: 64, Proxy: nil},
	}
	return listenAndServe(*addr, rp)
}

func listenAndServe(addr string, h http.Handler) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	fmt.Printf("LISTENING %s\n", ln.Addr())
	return (&http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}).Serve(ln)
}

// jwt returns an HS256 JWT that expires in a day: the proxy checks only
// its shape and exp.
func jwt() string {
	enc := base64.RawURLEncoding
	h := enc.EncodeToString([]byte(`{"alg":"HS256","typ":"JWT"}`))
	p := enc.EncodeToString([]byte(fmt.Sprintf(`{"sub":"bench-agent","exp":%d}`, time.Now().Add(24*time.Hour).Unix())))
	m := hmac.New(sha256.New, []byte("bench secret, not a real one"))
	m.Write([]byte(h + "." + p))
	return h + "." + p + "." + enc.EncodeToString(m.Sum(nil))
}

// start runs a child and returns the address it announced: a
// "LISTENING addr" line on stdout (ours) or a PROXY_LISTENING JSON line
// on stderr (voicetoken's).
func start(ctx context.Context, logDir, name string, argv ...string) (string, *exec.Cmd, error) {
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	logf, err := os.Create(filepath.Join(logDir, name+".log"))
	if err != nil {
		return "", nil, err
	}
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = io.MultiWriter(logf, pw), io.MultiWriter(logf, pw)
	if err := cmd.Start(); err != nil {
		return "", nil, err
	}
	addrc := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			line := sc.Text()
			if a, ok := strings.CutPrefix(line, "LISTENING "); ok {
				addrc <- a
				break
			}
			var ev struct{ Event, Addr string }
			if json.Unmarshal([]byte(line), &ev) == nil && ev.Event == "PROXY_LISTENING" {
				addrc <- ev.Addr
				break
			}
		}
		io.Copy(io.Discard, pr)
	}()
	select {
	case a := <-addrc:
		return a, cmd, nil
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		return "", nil, fmt.Errorf("%s did not start (see %s.log)", name, filepath.Join(logDir, name))
	}
}

type restResult struct {
	Reqs          int64
	RPS, P50, P99 float64 // req/s, microseconds
	Errors        int64
	CPU           float64 // the server's user+system CPU per request, microseconds
}

// cpuTime is a process's user+system CPU so far (/proc/PID/stat), the
// steadiest figure on a shared machine: it leaves out the client and the
// neighbours.
func cpuTime(pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * (time.Second / 100) // USER_HZ
}

// wrkScript makes wrk print one machine-readable line at the end.
const wrkScript = `done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("RESULT %d %f %f %f %d\n", summary.requests,
    summary.requests / (summary.duration / 1e6), latency:percentile(50), latency:percentile(99),
    e.connect + e.read + e.write + e.timeout + e.status))
end
`

func runWrk(bin, script, u string, conns int, d time.Duration) (restResult, error) {
	threads := min(2, conns)
	out, err := exec.Command(bin, "-t", strconv.Itoa(threads), "-c", strconv.Itoa(conns),
		"-d", strconv.Itoa(int(d/time.Second))+"s", "-s", script, u).CombinedOutput()
	if err != nil {
		return restResult{}, fmt.Errorf("wrk: %w: %s", err, out)
	}
	for _, line := range strings.Split(string(out), "\n") {
		if rest, ok := strings.CutPrefix(line, "RESULT "); ok {
			var r restResult
			if _, err := fmt.Sscanf(rest, "%d %f %f %f %d", &r.Reqs, &r.RPS, &r.P50, &r.P99, &r.Errors); err != nil {
				return r, fmt.Errorf("wrk output %q: %w", line, err)
			}
			return r, nil
		}
	}
	return restResult{}, fmt.Errorf("wrk printed no RESULT line: %s", out)
}

type wsResult struct {
	Msgs     int
	MPS      float64
	P50, P99 float64 // microseconds
}

// wsEcho sends n messages one at a time on one connection, each waiting
// for its echo, and reports the round trips.
func wsEcho(u string, n int) (wsResult, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c, _, err := websocket.Dial(ctx, u, nil)
	if err != nil {
		return wsResult{}, err
	}
	defer c.CloseNow()
	msg := []byte(`{"type":"ping","seq":0000000000,"payload":"abcdefghijklmnop"}`)
	lat := make([]float64, 0, n)
	t0 := time.Now()
	for range n {
		s := time.Now()
		if err := c.Write(ctx, websocket.MessageText, msg); err != nil {
			return wsResult{}, err
		}
		if _, _, err := c.Read(ctx); err != nil {
			return wsResult{}, err
		}
		lat = append(lat, float64(time.Since(s).Nanoseconds())/1e3)
	}
	el := time.Since(t0)
	c.Close(websocket.StatusNormalClosure, "")
	slices.Sort(lat)
	return wsResult{Msgs: n, MPS: float64(n) / el.Seconds(), P50: lat[n/2], P99: lat[n*99/100]}, nil
}

func median[T any](rs []T, key func(T) float64) T {
	s := slices.Clone(rs)
	slices.SortFunc(s, func(a, b T) int {
		switch ka, kb := key(a), key(b); {
		case ka < kb:
			return -1
		case ka > kb:
			return 1
		}
		return 0
	})
	return s[len(s)/2]
}

func run(args []string) error {
	fs := flag.NewFlagSet("run", flag.ExitOnError)
	vt := fs.String("voicetoken", "", "voicetoken binary")
	self := fs.String("self", os.Args[0], "this binary (to start the upstream and the baseline)")
	wrkBin := fs.String("wrk", "wrk", "wrk binary")
	d := fs.Duration("d", 6*time.Second, "each wrk round")
	connList := fs.String("c", "4,32", "wrk connection counts")
	rounds := fs.Int("rounds", 3, "rounds per target and connection count (median reported)")
	wsN := fs.Int("ws", 5000, "WebSocket round trips per measurement")
	extra := fs.String("proxy-args", "", "extra voicetoken proxy flags, space-separated")
	fs.Parse(args)
	if *vt == "" {
		return fmt.Errorf("-voicetoken is required")
	}
	dir, err := os.MkdirTemp("", "proxybench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	tok := jwt()
	tokFile := filepath.Join(dir, "token")
	if err := os.WriteFile(tokFile, []byte(tok+"\n"), 0o600); err != nil {
		return err
	}
	script := filepath.Join(dir, "report.lua")
	os.WriteFile(script, []byte(wrkScript), 0o644)

	upAddr, upCmd, err := start(ctx, dir, "upstream", *self, "upstream")
	if err != nil {
		return err
	}
	defer upCmd.Wait()
	baseAddr, baseCmd, err := start(ctx, dir, "baseline", *self, "baseline", "-upstream", "http://"+upAddr, "-token", tok)
	if err != nil {
		return err
	}
	defer baseCmd.Wait()
	pargs := []string{*vt, "proxy", "--upstream", "http://" + upAddr, "--credential", "file:" + tokFile, "--listen", "127.0.0.1:0"}
	pargs = append(pargs, strings.Fields(*extra)...)
	pxAddr, pxCmd, err := start(ctx, dir, "voicetoken", pargs...)
	if err != nil {
		return err
	}
	defer pxCmd.Wait()
	fmt.Printf("upstream %s, baseline %s, voicetoken proxy %s; wrk %s x %d rounds; %d WebSocket round trips\n", upAddr, baseAddr, pxAddr, *d, *rounds, *wsN)

	targets := []struct {
		name, addr string
		pid        int
	}{{"baseline", baseAddr, baseCmd.Process.Pid}, {"voicetoken", pxAddr, pxCmd.Process.Pid}}
	fmt.Println()
	fmt.Println("| REST (wrk) | connections | req/s | p50 | p99 | errors | proxy CPU us/req | req/s vs baseline | p50 vs baseline | p99 vs baseline |")
	fmt.Println("|---|---|---|---|---|---|---|---|---|---|")
	for _, cs := range strings.Split(*connList, ",") {
		conns, err := strconv.Atoi(strings.TrimSpace(cs))
		if err != nil {
			return fmt.Errorf("-c: %w", err)
		}
		res := map[string][]restResult{}
		for _, t := range targets { // warm-up, discarded
			if _, err := runWrk(*wrkBin, script, "http://"+t.addr+"/v1/rooms", conns, 2*time.Second); err != nil {
				return err
			}
		}
		for range *rounds {
			for _, t := range targets {
				c0 := cpuTime(t.pid)
				r, err := runWrk(*wrkBin, script, "http://"+t.addr+"/v1/rooms", conns, *d)
				if err != nil {
					return err
				}
				if r.Reqs > 0 {
					r.CPU = float64((cpuTime(t.pid) - c0).Microseconds()) / float64(r.Reqs)
				}
				res[t.name] = append(res[t.name], r)
			}
		}
		base := median(res["baseline"], func(r restResult) float64 { return r.RPS })
		for _, t := range targets {
			m := median(res[t.name], func(r restResult) float64 { return r.RPS })
			all := make([]string, 0, len(res[t.name]))
			for _, r := range res[t.name] {
				all = append(all, fmt.Sprintf("%.0f", r.RPS))
			}
			fmt.Printf("| %s (rounds: %s) | %d | %.0f | %.0f us | %.0f us | %d | %.1f | %.2f | %.2fx | %.2fx |\n", t.name, strings.Join(all, ", "), conns,
				m.RPS, m.P50, m.P99, m.Errors, m.CPU, m.RPS/base.RPS, m.P50/base.P50, m.P99/base.P99)
		}
	}

	fmt.Println()
	fmt.Println("| WebSocket echo (1 connection, 1 message in flight) | msgs/s | p50 | p99 | p50 vs direct | p99 vs direct |")
	fmt.Println("|---|---|---|---|---|---|")
	wsTargets := []struct{ name, url string }{{"direct", "ws://" + upAddr + "/ws"},
		{"baseline proxy", "ws://" + baseAddr + "/ws"}, {"voicetoken proxy", "ws://" + pxAddr + "/ws"}}
	wres := map[string][]wsResult{}
	for range *rounds {
		for _, t := range wsTargets {
			r, err := wsEcho(t.url, *wsN)
			if err != nil {
				return fmt.Errorf("%s: %w", t.name, err)
			}
			wres[t.name] = append(wres[t.name], r)
		}
	}
	direct := median(wres["direct"], func(r wsResult) float64 { return r.P50 })
	for _, t := range wsTargets {
		m := median(wres[t.name], func(r wsResult) float64 { return r.P50 })
		fmt.Printf("| %s | %.0f | %.0f us | %.0f us | %.2fx (+%.0f us) | %.2fx (+%.0f us) |\n", t.name, m.MPS, m.P50, m.P99,
			m.P50/direct.P50, m.P50-direct.P50, m.P99/direct.P99, m.P99-direct.P99)
	}
	cancel()
	return nil
}
