// Command adversarial runs voicetoken's adversarial suite and prints one
// table: each scenario, what was tried, how many times, how many held,
// how many failed. It exits 1 when anything failed.
//
//	go run ./bench/adversarial -short      # the CI subset, ~3 minutes here
//	go run ./bench/adversarial             # the long run: fuzz 1m per target, 60s load, 200 kills
//	go run ./bench/adversarial -json       # the same, as JSON (-json-out FILE: both)
//	go run ./bench/adversarial -scenarios load,rotate -load 10s -kills 20
//
// Scenarios, in the order they run:
//
//   - tests: `go test -json -run Adversarial ./...`. In-package tests
//     (faults, the access matrix, hostile input through serve, secret
//     scanning, rotate and check --fix ownership and links, verify/check
//     parity) print one line per scenario via t.Log,
//     "ADVERSARIAL scenario=... tried=... times=N held=N failed=N", which
//     becomes one row; a failed test fails its rows.
//   - load: builds voicetoken, runs `voicetoken serve` with a key file and
//     a policy file, and drives GET /api/token with bench/loadgen while,
//     every second, both files are replaced atomically (a new secret, the
//     key id and the default ttl alternating) and SIGHUP is sent. Every
//     answer must be 200 and its token must be signed by a secret that was
//     current around the request, with the key id and ttl of the same
//     generation (a half-loaded key or a key from one reload with the
//     policy of another would show). RSS is sampled every second.
//   - rotate: `voicetoken rotate` killed with SIGKILL at random points;
//     after each kill the token file must hold a whole valid token (old
//     or new) and at least one whole backup must exist.
//   - fuzz: every native Fuzz target of the module, for -fuzztime each.
//
// Nothing the runner prints contains a token or a secret: values are
// shown as fingerprints (first 8 hex of their SHA-256), and everything
// quoted from tests passes through a redactor.
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"
)

// runner carries what every scenario needs.
type runner struct {
	root   string // module root
	work   string // temporary directory, removed at the end
	stderr io.Writer
	bin    string // built voicetoken, "" until built
}

func (r *runner) progress(format string, args ...any) {
	fmt.Fprintf(r.stderr, "adversarial: "+format+"\n", args...)
}

// config is the run's settings, from flags.
type config struct {
	short     bool
	json      bool
	jsonOut   string
	fuzzTime  time.Duration
	load      time.Duration
	warmup    time.Duration
	conns     int
	kills     int
	redis     string // serve --redis for the load scenario
	scenarios []string
}

var allScenarios = []string{"tests", "load", "rotate", "fuzz"}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

func parseConfig(args []string, stderr io.Writer) (config, error) {
	fs := flag.NewFlagSet("adversarial", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var c config
	var scen string
	fs.BoolVar(&c.short, "short", false, "the CI subset: fuzz 3s per target, 20s load, 50 rotate kills")
	fs.BoolVar(&c.json, "json", false, "print the report as JSON")
	fs.StringVar(&c.jsonOut, "json-out", "", "also write the JSON report to this file")
	fs.DurationVar(&c.fuzzTime, "fuzztime", 0, "fuzz each target this long (default 1m, 3s with -short)")
	fs.DurationVar(&c.load, "load", 0, "load + reload duration (default 60s, 20s with -short)")
	fs.DurationVar(&c.warmup, "warmup", 5*time.Second, "RSS samples in the first part of the load are warm-up, not judged")
	fs.StringVar(&c.redis, "redis", "", "the load scenario's serve shares its rate limits through this Redis (serve --redis URL)")
	fs.IntVar(&c.conns, "c", 32, "load connections (one request in flight each, like bench/run.sh)")
	fs.IntVar(&c.kills, "kills", 0, "rotate SIGKILLs (default 200, 50 with -short)")
	fs.StringVar(&scen, "scenarios", strings.Join(allScenarios, ","), "comma-separated scenarios to run: "+strings.Join(allScenarios, ", "))
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	def := func(d *time.Duration, long, short time.Duration) {
		if *d == 0 {
			*d = long
			if c.short {
				*d = short
			}
		}
	}
	def(&c.fuzzTime, time.Minute, 3*time.Second)
	def(&c.load, time.Minute, 20*time.Second)
	if c.kills == 0 {
		c.kills = 200
		if c.short {
			c.kills = 50
		}
	}
	for _, s := range strings.Split(scen, ",") {
		if s = strings.TrimSpace(s); s == "" {
			continue
		}
		if !slices.Contains(allScenarios, s) {
			return c, fmt.Errorf("-scenarios: unknown %q (want %s)", s, strings.Join(allScenarios, ", "))
		}
		c.scenarios = append(c.scenarios, s)
	}
	if c.fuzzTime < 0 || c.load < 0 || c.kills < 0 || c.conns < 1 || c.warmup < 0 {
		return c, errors.New("durations and counts must be positive")
	}
	return c, nil
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	cfg, err := parseConfig(args, stderr)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		fmt.Fprintln(stderr, "adversarial:", err)
		return 2
	}
	root, err := moduleRoot(ctx)
	if err != nil {
		fmt.Fprintln(stderr, "adversarial:", err)
		return 2
	}
	work, err := os.MkdirTemp("", "voicetoken-adversarial-")
	if err != nil {
		fmt.Fprintln(stderr, "adversarial:", err)
		return 2
	}
	defer os.RemoveAll(work)
	r := &runner{root: root, work: work, stderr: stderr}

	mode := "long"
	if cfg.short {
		mode = "short"
	}
	t0 := time.Now()
	rep := &Report{Mode: mode, Started: t0.UTC().Format(time.RFC3339), LoadAvg: loadAvg()}
	for _, s := range cfg.scenarios {
		if ctx.Err() != nil {
			rep.Rows = append(rep.Rows, Row{Scenario: s, Tried: "run", Fail: true, Detail: "interrupted"})
			continue
		}
		switch s {
		case "tests":
			rep.Rows = append(rep.Rows, runTests(ctx, r, cfg.short)...)
		case "load":
			rows, fig := runLoad(ctx, r, cfg)
			rep.Rows, rep.Load = append(rep.Rows, rows...), fig
		case "rotate":
			rows, st := runRotate(ctx, r, cfg.kills)
			rep.Rows, rep.Rotate = append(rep.Rows, rows...), st
		case "fuzz":
			rep.Rows = append(rep.Rows, runFuzz(ctx, r, cfg.fuzzTime)...)
		}
	}
	rep.Seconds = time.Since(t0).Seconds()
	for _, row := range rep.Rows {
		if !row.OK() {
			rep.Failures++
		}
	}
	if cfg.jsonOut != "" {
		var b bytes.Buffer
		err := writeJSON(&b, rep)
		if err == nil {
			err = os.WriteFile(cfg.jsonOut, b.Bytes(), 0o644)
		}
		if err != nil {
			fmt.Fprintln(stderr, "adversarial: -json-out:", err)
		}
	}
	if cfg.json {
		if err := writeJSON(stdout, rep); err != nil {
			fmt.Fprintln(stderr, "adversarial:", err)
			return 2
		}
	} else {
		writeTable(stdout, rep)
	}
	if rep.Failures > 0 {
		return 1
	}
	return 0
}

// runTests runs the in-package adversarial tests and turns their
// ADVERSARIAL lines into rows.
//
// Finding none is a failure in the long run, whose table is the record
// of what was tried, and only a note with -short, so that CI does not
// depend on which in-package suites have landed yet.
func runTests(ctx context.Context, r *runner, short bool) []Row {
	r.progress("go test -json -run Adversarial ./...")
	cmd := r.goCmd(ctx, "test", "-json", "-count=1", "-timeout=15m", "-run", "Adversarial", "./...")
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	runErr := cmd.Run()
	tr, err := ParseTestJSON(&out)
	if err != nil {
		return []Row{{Scenario: "in-package tests", Tried: "go test -json -run Adversarial ./...", Times: 1, Failed: 1, Fail: true, Detail: err.Error()}}
	}
	rows := tr.Rows
	summary := Row{
		Scenario: "in-package tests",
		Tried:    "go test -run Adversarial ./...",
		Times:    int64(tr.Passed + tr.Failed),
		Held:     int64(tr.Passed),
		Failed:   int64(tr.Failed),
		Detail:   fmt.Sprintf("%d ADVERSARIAL lines, %d tests passed, %d failed, %d skipped", len(tr.Rows)-tr.BadLines, tr.Passed, tr.Failed, tr.Skipped),
	}
	var exitErr *exec.ExitError
	if runErr != nil && !errors.As(runErr, &exitErr) {
		summary.Fail, summary.Detail = true, "go test did not run: "+runErr.Error()
	} else if runErr != nil && tr.Failed == 0 && !slices.ContainsFunc(rows, func(x Row) bool { return !x.OK() }) {
		summary.Fail, summary.Detail = true, "go test failed: "+lastLines(errb.Bytes(), 2)
	}
	if len(tr.Rows) == 0 && tr.Passed+tr.Failed == 0 {
		summary.Detail = "0 found: no test named *Adversarial* in the module"
		if !short {
			summary.Fail = true
			summary.Detail += " (a failure outside -short)"
		}
	}
	return append([]Row{summary}, rows...)
}

// moduleRoot finds the module's root with `go env GOMOD`.
func moduleRoot(ctx context.Context) (string, error) {
	out, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	mod := strings.TrimSpace(string(out))
	if mod == "" || mod == os.DevNull {
		return "", errors.New("run inside the voicetoken module")
	}
	return filepath.Dir(mod), nil
}

// loadAvg is /proc/loadavg's first three fields: how busy the machine
// was, for the record.
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return ""
	}
	return strings.Join(f[:3], " ")
}

// build compiles voicetoken once into the work directory.
// prepare builds the binary and makes the scenario's own directory under
// the work directory.
func (r *runner) prepare(ctx context.Context, scenario string) (bin, dir string, err error) {
	if bin, err = r.build(ctx); err != nil {
		return "", "", err
	}
	dir = filepath.Join(r.work, scenario)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", "", err
	}
	return bin, dir, nil
}

func (r *runner) build(ctx context.Context) (string, error) {
	if r.bin != "" {
		return r.bin, nil
	}
	bin := filepath.Join(r.work, "voicetoken")
	r.progress("go build ./cmd/voicetoken")
	cmd := r.goCmd(ctx, "build", "-o", bin, "./cmd/voicetoken")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("build voicetoken: %w: %s", err, lastLines(out, 3))
	}
	r.bin = bin
	return bin, nil
}
