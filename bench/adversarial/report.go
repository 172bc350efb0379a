package main

import (
	"encoding/json"
	"fmt"
	"io"
	"regexp"
	"strings"
	"text/tabwriter"
	"unicode"
	"unicode/utf8"

	"voicetoken/internal/token"
)

// Row is one line of the suite's table: a scenario, what was tried, how
// many times, how many held and how many failed.
type Row struct {
	Scenario string `json:"scenario"`
	Tried    string `json:"tried"`
	Times    int64  `json:"times"`
	Held     int64  `json:"held"`
	Failed   int64  `json:"failed"`
	// Fail marks the row failed even when Failed is 0: the test that
	// reported it failed, or the scenario could not run.
	Fail   bool   `json:"fail,omitempty"`
	Detail string `json:"detail,omitempty"`
}

// OK reports whether the row held.
func (r Row) OK() bool { return !r.Fail && r.Failed == 0 }

// Report is the whole run: the rows and the figures of the system-level
// scenarios, for -json.
type Report struct {
	Mode     string       `json:"mode"`
	Started  string       `json:"started"`
	Seconds  float64      `json:"seconds"`
	LoadAvg  string       `json:"loadavg,omitempty"`
	Rows     []Row        `json:"rows"`
	Load     *LoadFigures `json:"load,omitempty"`
	Rotate   *RotateStats `json:"rotate,omitempty"`
	Failures int          `json:"failures"`
}

// jwtLike matches anything that could be a token or a piece of one: a
// base64url JSON object ("eyJ...") long enough to matter.
var jwtLike = regexp.MustCompile(`eyJ[A-Za-z0-9_-]{6,}(\.[A-Za-z0-9_-]*){0,2}`)

// redact replaces token-shaped text with its fingerprint, and any of the
// given secrets with theirs. The runner passes every string it prints
// through it: details quote test output, and a test may misbehave.
func redact(s string, secrets ...string) string {
	s = jwtLike.ReplaceAllStringFunc(s, func(t string) string { return "jwt:" + token.Fingerprint(t) })
	for _, sec := range secrets {
		if sec != "" {
			s = strings.ReplaceAll(s, sec, "secret:"+token.Fingerprint(sec))
		}
	}
	return s
}

// clip shortens s to n runes for the table, on one line, with control
// characters escaped: test output may carry terminal escapes.
func clip(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || r == utf8.RuneError {
			return '?'
		}
		return r
	}, s)
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}

// writeTable prints the rows as an aligned table, then a summary line.
func writeTable(w io.Writer, rep *Report) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "scenario\twhat was tried\ttimes\theld\tfailed\tresult\tdetail")
	for _, r := range rep.Rows {
		res := "ok"
		if !r.OK() {
			res = "FAIL"
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%s\t%s\n", clip(redact(r.Scenario), 48), clip(redact(r.Tried), 72),
			r.Times, r.Held, r.Failed, res, clip(redact(r.Detail), 140))
	}
	tw.Flush()
	for _, r := range rep.Rows {
		if !r.OK() && r.Detail != "" {
			fmt.Fprintf(w, "\nFAIL %s: %s", redact(r.Scenario), clip(redact(r.Detail), 2000))
		}
	}
	fmt.Fprintf(w, "\n%d rows, %d failed, %s mode, %.0fs", len(rep.Rows), rep.Failures, rep.Mode, rep.Seconds)
	if rep.LoadAvg != "" {
		fmt.Fprintf(w, ", load average at start %s", rep.LoadAvg)
	}
	fmt.Fprintln(w)
}

// writeJSON prints the report as one JSON document, redacted like the
// table.
func writeJSON(w io.Writer, rep *Report) error {
	out := *rep
	out.Rows = make([]Row, len(rep.Rows))
	for i, r := range rep.Rows {
		r.Scenario, r.Tried, r.Detail = redact(r.Scenario), redact(r.Tried), redact(r.Detail)
		out.Rows[i] = r
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(&out)
}
