// Command load is voicetoken's benchmark driver. It drives GET requests
// over N keep-alive connections with a minimal HTTP/1.1 client (raw TCP,
// one request in flight per connection, like wrk) and reports requests/s,
// p50/p99 latency and errors.
//
// With -target it also runs the servers itself with the same settings, so
// that all of them are measured in one run on the same machine: it times
// exec-to-first-200 (median of -startups cold starts, the targets taking
// turns), then starts them all and drives each in turn for -rounds rounds
// (median round reported), and reads each process's RSS after the load. -baseline and -peer name
// the targets the others are reported against as ratios.
//
//	go run ./bench/load -url 'http://127.0.0.1:9000/api/token?room=test-room&identity=u1'
//	go run ./bench/load -target 'ceiling,http://127.0.0.1:9200,./ceiling' -target 'voicetoken,http://127.0.0.1:9000,./voicetoken serve' ...
//
// The client itself is bench/loadgen, shared with bench/adversarial.
// With -driver wrk the load comes from wrk instead (the tool issue 4's
// reference figures were taken with); everything else is the same.
//
// A target is "name,base URL,command": the command's leading KEY=VALUE
// words are environment variables; the rest is split on spaces (no quoting).
package main

import (
	"bufio"
	"cmp"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"voicetoken/bench/loadgen"
)

type target struct {
	Name string `json:"name"`
	URL  string `json:"url"`
	Cmd  string `json:"cmd,omitempty"`
}

type result struct {
	target
	Requests  int64   `json:"requests"`
	Errors    int64   `json:"errors"`
	ReqPerSec float64 `json:"req_per_sec"`
	P50ms     float64 `json:"p50_ms"`
	P99ms     float64 `json:"p99_ms"`
	RSSMB     float64 `json:"rss_after_mb,omitempty"`
	CPUus     float64 `json:"server_cpu_us_per_req,omitempty"`
	StartMS   float64 `json:"exec_to_first_200_ms,omitempty"`
	Err       string  `json:"error,omitempty"`
}

type targetsFlag []target

func (t *targetsFlag) String() string { return fmt.Sprint(*t) }
func (t *targetsFlag) Set(s string) error {
	parts := strings.SplitN(s, ",", 3)
	if len(parts) != 3 || parts[0] == "" {
		return errors.New(`want "name,base URL,command"`)
	}
	*t = append(*t, target{Name: parts[0], URL: parts[1], Cmd: parts[2]})
	return nil
}

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "load:", err)
		os.Exit(1)
	}
}

func run() error {
	var targets targetsFlag
	var (
		rawURL   = flag.String("url", "", "drive this URL only (no process management)")
		path     = flag.String("path", "/api/token?room=test-room&identity=u1", "path and query driven on each target")
		conns    = flag.Int("c", 32, "connections")
		dur      = flag.Duration("d", 10*time.Second, "load duration per target")
		warmup   = flag.Duration("warmup", 2*time.Second, "warm-up load before measuring")
		startups = flag.Int("startups", 15, "cold starts timed per target (median reported)")
		baseline = flag.String("baseline", "ceiling", "target the others are compared to")
		peer     = flag.String("peer", "node", "peer target voicetoken is compared to")
		logDir   = flag.String("logdir", os.TempDir(), "where targets' stdout/stderr go")
		jsonOut  = flag.String("json", "", "also write results as JSON to this file")
		rounds   = flag.Int("rounds", 3, "load rounds; targets take turns each round and the median round is reported")
		drv      = flag.String("driver", "go", "load driver: go (bench/loadgen) or wrk")
		threads  = flag.Int("wrk-threads", 2, "wrk's -t")
	)
	flag.Var(&targets, "target", `"name,base URL,command" (repeatable), run in order`)
	flag.Parse()

	var drive driveFunc
	switch *drv {
	case "go":
		drive = driveGo
	case "wrk":
		bin, err := exec.LookPath("wrk")
		if err != nil {
			return errors.New("wrk not found: install it (apt-get install wrk) or use -driver go")
		}
		drive = wrkDriver{bin: bin, threads: *threads}.drive
	default:
		return fmt.Errorf("-driver %q: want go or wrk", *drv)
	}

	if *rawURL != "" {
		r := drive(*rawURL, *conns, *warmup, *dur)
		r.Name = "url"
		printResults(os.Stdout, []result{r}, "", "")
		return nil
	}
	if len(targets) == 0 {
		return errors.New("give -url or at least one -target")
	}
	results, err := measureAll(drive, targets, *path, *conns, *warmup, *dur, *startups, *rounds, *logDir)
	if err != nil {
		return err
	}
	printResults(os.Stdout, results, *baseline, *peer)
	if *jsonOut != "" {
		b, _ := json.MarshalIndent(map[string]any{
			"driver": *drv, "connections": *conns, "duration": dur.String(), "rounds": *rounds, "path": *path, "results": results,
		}, "", "  ")
		if err := os.WriteFile(*jsonOut, append(b, '\n'), 0o644); err != nil {
			return err
		}
	}
	for _, r := range results {
		if r.Err != "" {
			return fmt.Errorf("%s failed: %s", r.Name, r.Err)
		}
	}
	return nil
}

// measureAll times cold starts of every target, taking turns so that
// background noise falls on all of them alike, then starts them all and
// drives each in turn for rounds rounds. Each target's median round (by
// req/s) is reported, with its RSS after the last round.
func measureAll(drive driveFunc, targets []target, path string, conns int, warmup, dur time.Duration, startups, rounds int, logDir string) ([]result, error) {
	logs := make([]*os.File, len(targets))
	urls := make([]string, len(targets))
	for i, t := range targets {
		f, err := os.Create(filepath.Join(logDir, t.Name+".log"))
		if err != nil {
			return nil, err
		}
		defer f.Close()
		logs[i], urls[i] = f, strings.TrimSuffix(t.URL, "/")+path
	}
	starts := make([][]float64, len(targets))
	for range startups {
		for i, t := range targets {
			cmd, d, err := start(t.Cmd, urls[i], logs[i])
			if err != nil {
				return nil, fmt.Errorf("%s: %w", t.Name, err)
			}
			starts[i] = append(starts[i], float64(d)/float64(time.Millisecond))
			stop(cmd)
		}
	}
	cmds := make([]*exec.Cmd, len(targets))
	for i, t := range targets {
		cmd, _, err := start(t.Cmd, urls[i], logs[i])
		if err != nil {
			return nil, fmt.Errorf("%s: %w", t.Name, err)
		}
		defer stop(cmd)
		cmds[i] = cmd
	}
	runs := make([][]result, len(targets))
	for round := range rounds {
		for i, t := range targets {
			fmt.Fprintf(os.Stderr, "round %d/%d: %s\n", round+1, rounds, t.Name)
			pid := cmds[i].Process.Pid
			c0 := loadgen.CPUTime(pid)
			r := drive(urls[i], conns, warmup, dur)
			if r.Requests > 0 {
				// CPU over warm-up and run, per measured request: a noise-robust
				// view of the server's own cost (the client's is excluded).
				r.CPUus = float64((loadgen.CPUTime(pid) - c0).Microseconds()) / (float64(r.Requests) * float64(warmup+dur) / float64(dur))
			}
			runs[i] = append(runs[i], r)
		}
	}
	var out []result
	for i, t := range targets {
		rs := runs[i]
		slices.SortFunc(rs, func(a, b result) int { return cmp.Compare(a.ReqPerSec, b.ReqPerSec) })
		r := rs[len(rs)/2]
		for _, x := range rs {
			if x.Errors > r.Errors {
				r.Errors = x.Errors // any error in any round counts
			}
		}
		r.target = t
		slices.Sort(starts[i])
		if len(starts[i]) > 0 {
			r.StartMS = starts[i][len(starts[i])/2]
		}
		r.RSSMB = loadgen.RSSMB(cmds[i].Process.Pid)
		out = append(out, r)
	}
	return out, nil
}

// start execs cmdline and polls url until it answers 200: the time from
// exec to the first 200 is what a user waits after `voicetoken serve`.
func start(cmdline, u string, logw io.Writer) (*exec.Cmd, time.Duration, error) {
	fields := strings.Fields(cmdline)
	var env []string
	for len(fields) > 0 && strings.Contains(fields[0], "=") && !strings.HasPrefix(fields[0], "-") {
		env = append(env, fields[0])
		fields = fields[1:]
	}
	if len(fields) == 0 {
		return nil, 0, fmt.Errorf("empty command %q", cmdline)
	}
	cmd := exec.Command(fields[0], fields[1:]...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = logw, logw
	pu, err := url.Parse(u)
	if err != nil {
		return nil, 0, err
	}
	// Something already listening there would answer for the target and
	// be measured in its place.
	if c, err := net.DialTimeout("tcp", pu.Host, time.Second); err == nil {
		c.Close()
		return nil, 0, fmt.Errorf("%s is already in use by another process: stop it first", pu.Host)
	}
	req := []byte("GET " + pu.RequestURI() + " HTTP/1.1\r\nHost: " + pu.Host + "\r\nConnection: close\r\n\r\n")
	t0 := time.Now()
	if err := cmd.Start(); err != nil {
		return nil, 0, err
	}
	deadline := t0.Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if status, err := oneShot(pu.Host, req); err == nil && status == 200 {
			return cmd, time.Since(t0), nil
		}
		time.Sleep(200 * time.Microsecond)
	}
	stop(cmd)
	return nil, 0, fmt.Errorf("%s: no 200 from %s within 30s", cmdline, u)
}

func oneShot(host string, req []byte) (int, error) {
	c, err := net.DialTimeout("tcp", host, time.Second)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := c.Write(req); err != nil {
		return 0, err
	}
	status, _, err := loadgen.ReadResponse(bufio.NewReader(c), nil)
	return status, err
}

func stop(cmd *exec.Cmd) {
	cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		cmd.Process.Kill()
		<-done
	}
}

// driveFunc runs conns connections against u for warmup (discarded), then
// for dur, and reports.
type driveFunc func(u string, conns int, warmup, dur time.Duration) result

// driveGo is the driveFunc of bench/loadgen.
func driveGo(u string, conns int, warmup, dur time.Duration) result {
	pu, err := url.Parse(u)
	if err != nil {
		return result{Err: err.Error()}
	}
	req := loadgen.Request(pu.Host, pu.RequestURI())
	if warmup > 0 {
		loadgen.Run(pu.Host, req, loadgen.Options{Conns: conns, Duration: warmup})
	}
	lr := loadgen.Run(pu.Host, req, loadgen.Options{Conns: conns, Duration: dur})
	lat, reqs, errs, elapsed := lr.Latencies, lr.Requests, lr.Errors, lr.Elapsed
	slices.Sort(lat)
	pct := func(p float64) float64 {
		if len(lat) == 0 {
			return 0
		}
		return float64(lat[min(len(lat)-1, int(float64(len(lat))*p))]) / float64(time.Millisecond)
	}
	return result{
		Requests: reqs, Errors: errs,
		ReqPerSec: float64(reqs) / elapsed.Seconds(),
		P50ms:     pct(0.50), P99ms: pct(0.99),
	}
}

func printResults(w io.Writer, rs []result, baseline, peer string) {
	byName := map[string]result{}
	for _, r := range rs {
		byName[r.Name] = r
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "target\treq/s\tp50 ms\tp99 ms\terrors\tRSS after MB\texec→200 ms\tserver CPU µs/req\tvs "+baseline+"\tvs "+peer+"\t")
	for _, r := range rs {
		ratio := func(other string, f func(result) float64) string {
			o, ok := byName[other]
			if !ok || f(o) == 0 || other == r.Name {
				return "-"
			}
			return fmt.Sprintf("%.2fx", f(r)/f(o))
		}
		rps := func(x result) float64 { return x.ReqPerSec }
		fmt.Fprintf(tw, "%s\t%.0f\t%.3f\t%.3f\t%d\t%.1f\t%.1f\t%.1f\t%s\t%s\t\n", r.Name, r.ReqPerSec, r.P50ms, r.P99ms, r.Errors, r.RSSMB, r.StartMS, r.CPUus,
			ratio(baseline, rps), ratio(peer, rps))
	}
	tw.Flush()
	if b, ok := byName[baseline]; ok {
		for _, r := range rs {
			if r.Name == baseline || b.P99ms == 0 || b.StartMS == 0 {
				continue
			}
			fmt.Fprintf(w, "%s: p99 %.2fx of %s's, exec→200 %.2fx of %s's\n", r.Name, r.P99ms/b.P99ms, baseline, r.StartMS/b.StartMS, baseline)
		}
	}
}
