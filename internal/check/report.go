package check

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"
	"unicode/utf8"
)

// ANSI colours for the status column, used only on a terminal.
const (
	ansiReset  = "\x1b[0m"
	ansiGreen  = "\x1b[32m"
	ansiYellow = "\x1b[33m"
	ansiRed    = "\x1b[1;31m"
	ansiDim    = "\x1b[2m"
)

func colourOf(s Status) string {
	switch s {
	case OK:
		return ansiGreen
	case Warn:
		return ansiYellow
	case Fail:
		return ansiRed
	default:
		return ansiDim
	}
}

// FormatDuration writes a check's duration for the table: "0ms", "42ms",
// "1.25s".
func FormatDuration(d time.Duration) string {
	if d < time.Second {
		return fmt.Sprintf("%dms", d.Milliseconds())
	}
	return fmt.Sprintf("%.2fs", d.Seconds())
}

// WriteTable writes results as an aligned table and a summary line. With
// colour, the status words are coloured with ANSI codes; the alignment is
// computed on the plain text so that both forms line up.
func WriteTable(w io.Writer, results []Result, colour bool) error {
	return WriteTableTitled(w, "CHECK", results, colour)
}

// WriteTableTitled is WriteTable with another heading for the first
// column ("STEP" for smoke's steps).
func WriteTableTitled(w io.Writer, title string, results []Result, colour bool) error {
	nameW, timeW := utf8.RuneCountInString(title), len("TIME")
	for _, r := range results {
		nameW = max(nameW, utf8.RuneCountInString(r.Name))
		timeW = max(timeW, len(FormatDuration(r.Duration)))
	}
	const statusW = len("skipped")
	var b strings.Builder
	pad := func(s string, n int) string { return s + strings.Repeat(" ", max(0, n-utf8.RuneCountInString(s))) }
	fmt.Fprintf(&b, "%s  %s  %s  DETAIL\n", pad(title, nameW), pad("STATUS", statusW), pad("TIME", timeW))
	for _, r := range results {
		st := pad(r.Status.String(), statusW)
		if colour {
			st = colourOf(r.Status) + r.Status.String() + ansiReset + strings.Repeat(" ", statusW-len(r.Status.String()))
		}
		line := fmt.Sprintf("%s  %s  %s  %s", pad(r.Name, nameW), st, pad(FormatDuration(r.Duration), timeW), r.Detail)
		b.WriteString(strings.TrimRight(line, " "))
		b.WriteByte('\n')
	}
	s := Summarize(results)
	overall := Overall(results).String()
	if colour {
		overall = colourOf(Overall(results)) + overall + ansiReset
	}
	fmt.Fprintf(&b, "\n%s: %d ok, %d warn, %d fail, %d skipped\n", overall, s.OK, s.Warn, s.Fail, s.Skipped)
	_, err := io.WriteString(w, b.String())
	return err
}

// Report is the JSON form of one round of checks.
type Report struct {
	Status    Status       `json:"status"`
	ExitCode  int          `json:"exit_code"`
	CheckedAt time.Time    `json:"checked_at"`
	Summary   Summary      `json:"summary"`
	Checks    []JSONResult `json:"checks"`
}

// JSONResult is one check in a Report.
type JSONResult struct {
	Name            string  `json:"name"`
	Status          Status  `json:"status"`
	Detail          string  `json:"detail"`
	DurationSeconds float64 `json:"duration_seconds"`
}

// NewReport builds the JSON form of results checked at at.
func NewReport(results []Result, at time.Time, strict bool) Report {
	rep := Report{
		Status: Overall(results), ExitCode: ExitCode(results, strict),
		CheckedAt: at.UTC().Truncate(time.Millisecond), Summary: Summarize(results),
		Checks: make([]JSONResult, 0, len(results)),
	}
	for _, r := range results {
		rep.Checks = append(rep.Checks, JSONResult{
			Name: r.Name, Status: r.Status, Detail: r.Detail,
			DurationSeconds: r.Duration.Round(time.Microsecond).Seconds(),
		})
	}
	return rep
}

// WriteJSON writes the report as indented JSON, or as one line when
// compact (for --watch, one object per round).
func WriteJSON(w io.Writer, rep Report, compact bool) error {
	enc := json.NewEncoder(w)
	if !compact {
		enc.SetIndent("", "  ")
	}
	return enc.Encode(rep)
}
