package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"sort"
	"strconv"
	"strings"
)

// Marker starts the line an in-package adversarial test logs (t.Log) for
// each scenario it ran:
//
//	ADVERSARIAL scenario=<name> tried=<what> times=<n> held=<n> failed=<n> [detail=<text>]
//
// Values run to the next " key=" of a known key, so <what> and <text>
// may contain spaces; a value may also be Go-quoted (%q).
const Marker = "ADVERSARIAL"

// ErrNotAdversarial is returned by ParseLine for a line without the
// marker.
var ErrNotAdversarial = errors.New("not an ADVERSARIAL line")

// ErrBadLine is returned by ParseLine for a marked line it cannot read.
var ErrBadLine = errors.New("bad ADVERSARIAL line")

var lineKeys = []string{"scenario", "tried", "times", "held", "failed", "detail"}

// ParseLine reads one ADVERSARIAL line, as t.Log prints it (a
// "file_test.go:12: " prefix and indentation are allowed before the
// marker).
func ParseLine(line string) (Row, error) {
	line = strings.TrimRight(line, "\r\n")
	i := markerAt(line)
	if i < 0 {
		return Row{}, ErrNotAdversarial
	}
	rest := strings.TrimSpace(line[i+len(Marker):])
	vals := map[string]string{}
	for rest != "" {
		k, v, ok := strings.Cut(rest, "=")
		if !ok || !slices.Contains(lineKeys, k) {
			return Row{}, fmt.Errorf("%w: want key=value with a known key at %q", ErrBadLine, clip(rest, 20))
		}
		if _, dup := vals[k]; dup {
			return Row{}, fmt.Errorf("%w: %s twice", ErrBadLine, k)
		}
		if strings.HasPrefix(v, `"`) {
			q, err := strconv.QuotedPrefix(v)
			if err != nil {
				return Row{}, fmt.Errorf("%w: %s: bad quoting", ErrBadLine, k)
			}
			vals[k], _ = strconv.Unquote(q)
			rest = v[len(q):]
			if rest != "" && rest[0] != ' ' {
				return Row{}, fmt.Errorf("%w: %s: text after the quoted value", ErrBadLine, k)
			}
		} else {
			end := nextKey(v)
			vals[k], rest = strings.TrimSpace(v[:end]), v[end:]
		}
		rest = strings.TrimSpace(rest)
	}
	r := Row{Scenario: vals["scenario"], Tried: vals["tried"], Detail: vals["detail"]}
	if r.Scenario == "" {
		return Row{}, fmt.Errorf("%w: no scenario", ErrBadLine)
	}
	for _, f := range []struct {
		key string
		dst *int64
	}{{"times", &r.Times}, {"held", &r.Held}, {"failed", &r.Failed}} {
		s, ok := vals[f.key]
		if !ok {
			return Row{}, fmt.Errorf("%w: no %s", ErrBadLine, f.key)
		}
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n < 0 {
			return Row{}, fmt.Errorf("%w: %s is not a count", ErrBadLine, f.key)
		}
		*f.dst = n
	}
	if r.Held > r.Times || r.Failed > r.Times-r.Held {
		return Row{}, fmt.Errorf("%w: held %d + failed %d > times %d", ErrBadLine, r.Held, r.Failed, r.Times)
	}
	return r, nil
}

// nextKey returns where the next " key=" of a known key starts in v, or
// len(v).
func nextKey(v string) int {
	end := len(v)
	for _, k := range lineKeys {
		if j := strings.Index(v, " "+k+"="); j >= 0 && j < end {
			end = j
		}
	}
	return end
}

// markerAt finds the marker as a word of its own.
func markerAt(line string) int {
	off := 0
	for {
		i := strings.Index(line[off:], Marker)
		if i < 0 {
			return -1
		}
		i += off
		before := i == 0 || line[i-1] == ' ' || line[i-1] == '\t'
		after := i+len(Marker) == len(line) || line[i+len(Marker)] == ' '
		if before && after {
			return i
		}
		off = i + len(Marker)
	}
}

// testKey names a test (or, with test "", a package).
type testKey struct{ pkg, test string }

// testEvent is one line of `go test -json` (cmd/test2json).
type testEvent struct {
	Action     string
	Package    string
	ImportPath string // build-output and build-fail events
	Test       string
	Output     string
	Elapsed    float64
	// FailedBuild is set on a package's fail event when its test binary
	// did not build (Go 1.24+).
	FailedBuild string
}

// TestRun is what ParseTestJSON found.
type TestRun struct {
	// Rows: one per ADVERSARIAL line, in order, with the test's outcome
	// folded in (a failed test fails its rows); then one per failed test
	// or package that printed no line.
	Rows []Row
	// Tests counts the tests (top-level and subtests) by outcome.
	Passed, Failed, Skipped int
	// BadLines are marked lines that did not parse (each also a failed row).
	BadLines int
}

// ParseTestJSON reads the output of `go test -json` and turns it into
// rows. Output is gathered per test until a newline, since test2json may
// split a long line over several events.
func ParseTestJSON(r io.Reader) (*TestRun, error) {
	type key = testKey
	var (
		run      TestRun
		partial  = map[key]string{}
		rowsOf   = map[key][]int{}
		outcome  = map[key]string{}
		head     = map[key][]string{} // first output lines, for a failure's detail
		failPkgs []string
		started  []key // tests in the order they started
		buildErr = map[string][]string{}
	)
	handle := func(k key, line string) {
		if markerAt(line) < 0 {
			// The first lines that say something: a t.Error message or
			// "panic: ...", for a failure's detail.
			if l := strings.TrimSpace(line); len(head[k]) < 3 && !noise(l) {
				head[k] = append(head[k], l)
			}
			return
		}
		row, err := ParseLine(line)
		if err != nil {
			run.BadLines++
			row = Row{Scenario: "ADVERSARIAL line in " + name(k.pkg, k.test), Tried: "parse the line", Times: 1, Failed: 1, Detail: err.Error()}
		}
		rowsOf[k] = append(rowsOf[k], len(run.Rows))
		run.Rows = append(run.Rows, row)
	}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), 16<<20)
	for sc.Scan() {
		b := sc.Bytes()
		if len(b) == 0 || b[0] != '{' {
			continue // go's own messages on a non-JSON line
		}
		var ev testEvent
		if err := json.Unmarshal(b, &ev); err != nil {
			continue
		}
		switch ev.Action {
		case "build-output":
			buildErr[ev.ImportPath] = append(buildErr[ev.ImportPath], strings.TrimSpace(ev.Output))
			continue
		case "build-fail":
			pkg, _, _ := strings.Cut(ev.ImportPath, " ")
			run.Rows = append(run.Rows, Row{Scenario: "build " + strings.TrimPrefix(pkg, "voicetoken/"), Tried: "compile the tests", Times: 1, Failed: 1,
				Fail: true, Detail: strings.Join(lastN(buildErr[ev.ImportPath], 3), " | ")})
			continue
		}
		k := key{ev.Package, ev.Test}
		switch ev.Action {
		case "run":
			started = append(started, k)
		case "output":
			s := partial[k] + ev.Output
			for {
				i := strings.IndexByte(s, '\n')
				if i < 0 {
					break
				}
				handle(k, s[:i])
				s = s[i+1:]
			}
			partial[k] = s
		case "pass", "fail", "skip":
			if s := partial[k]; s != "" {
				handle(k, s)
				delete(partial, k)
			}
			if ev.Test == "" {
				if ev.Action == "fail" && ev.FailedBuild == "" {
					failPkgs = append(failPkgs, ev.Package)
				}
				continue
			}
			outcome[k] = ev.Action
			switch ev.Action {
			case "pass":
				run.Passed++
			case "fail":
				run.Failed++
			case "skip":
				run.Skipped++
			}
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read go test -json: %w", err)
	}
	// Fold outcomes into the rows; a failed test without rows, or whose
	// parent failed, gets its own row.
	failedTests := map[string]bool{}
	var keys []key
	for k, o := range outcome {
		if o == "fail" {
			failedTests[k.pkg] = true
			keys = append(keys, k)
		}
	}
	sort.Slice(keys, func(a, b int) bool {
		if keys[a].pkg != keys[b].pkg {
			return keys[a].pkg < keys[b].pkg
		}
		return keys[a].test < keys[b].test
	})
	for k, idx := range rowsOf {
		if outcome[k] == "fail" || outcome[key{k.pkg, topLevel(k.test)}] == "fail" {
			for _, i := range idx {
				run.Rows[i].Fail = true
				if run.Rows[i].Detail == "" {
					run.Rows[i].Detail = name(k.pkg, k.test) + " failed"
				}
			}
		}
	}
	for _, k := range keys {
		if len(rowsOf[k]) > 0 || hasFailedChild(outcome, k.pkg, k.test) {
			continue
		}
		run.Rows = append(run.Rows, Row{Scenario: name(k.pkg, k.test), Tried: "go test", Times: 1, Failed: 1, Fail: true,
			Detail: strings.Join(head[k], " | ")})
	}
	for _, p := range failPkgs {
		if failedTests[p] {
			continue
		}
		// The package failed with no failed test: the binary died (a
		// panic in a goroutine, a timeout, os.Exit) while tests were
		// running. Those that never finished are named, with their last
		// output; their rows fail.
		found := false
		for _, k := range started {
			if k.pkg != p || outcome[k] != "" || strings.Contains(k.test, "/") {
				continue
			}
			found = true
			for kk, idx := range rowsOf {
				if kk.pkg == p && topLevel(kk.test) == k.test {
					for _, i := range idx {
						run.Rows[i].Fail = true
					}
				}
			}
			run.Failed++
			run.Rows = append(run.Rows, Row{Scenario: name(k.pkg, k.test), Tried: "go test", Times: 1, Failed: 1, Fail: true,
				Detail: "did not finish: " + strings.Join(head[k], " | ")})
		}
		if !found {
			run.Rows = append(run.Rows, Row{Scenario: "package " + name(p, ""), Tried: "go test", Times: 1, Failed: 1, Fail: true,
				Detail: strings.Join(head[key{p, ""}], " | ")})
		}
	}
	return &run, nil
}

func hasFailedChild(outcome map[testKey]string, pkg, test string) bool {
	for k, o := range outcome {
		if o == "fail" && k.pkg == pkg && strings.HasPrefix(k.test, test+"/") {
			return true
		}
	}
	return false
}

func topLevel(test string) string {
	if i := strings.IndexByte(test, '/'); i >= 0 {
		return test[:i]
	}
	return test
}

func name(pkg, test string) string {
	pkg = strings.TrimPrefix(pkg, "voicetoken/")
	if test == "" {
		return pkg
	}
	return pkg + " " + test
}

func lastN(s []string, n int) []string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// noise tells go test's own lines from a test's.
func noise(l string) bool {
	return l == "" || l == "FAIL" || l == "PASS" || strings.HasPrefix(l, "=== ") || strings.HasPrefix(l, "--- ") ||
		strings.HasPrefix(l, "FAIL\t") || strings.HasPrefix(l, "ok  \t") || strings.HasPrefix(l, "goroutine ") ||
		strings.HasPrefix(l, "exit status ")
}
