package main

import (
	"errors"
	"os"
	"strings"
	"testing"
)

func TestParseLine(t *testing.T) {
	tests := []struct {
		name    string
		line    string
		want    Row
		wantErr error
	}{
		{
			name: "plain",
			line: "ADVERSARIAL scenario=upstream down tried=proxy to a closed port times=20 held=20 failed=0",
			want: Row{Scenario: "upstream down", Tried: "proxy to a closed port", Times: 20, Held: 20},
		},
		{
			name: "t.Log prefix and detail",
			line: "    proxy_test.go:41: ADVERSARIAL scenario=access matrix tried=kind x room x grant times=100 held=99 failed=1 detail=admin grant minted\n",
			want: Row{Scenario: "access matrix", Tried: "kind x room x grant", Times: 100, Held: 99, Failed: 1, Detail: "admin grant minted"},
		},
		{
			name: "quoted values may hold key-like text",
			line: `ADVERSARIAL scenario="tried=times=" tried="a \"b\" times=3" times=3 held=3 failed=0`,
			want: Row{Scenario: "tried=times=", Tried: `a "b" times=3`, Times: 3, Held: 3},
		},
		{
			name: "keys in any order",
			line: "ADVERSARIAL failed=0 held=2 times=2 tried=x scenario=y",
			want: Row{Scenario: "y", Tried: "x", Times: 2, Held: 2},
		},
		{
			name: "zero times",
			line: "ADVERSARIAL scenario=s tried=nothing times=0 held=0 failed=0",
			want: Row{Scenario: "s", Tried: "nothing", Times: 0},
		},
		{name: "no marker", line: "scenario=x tried=y times=1 held=1 failed=0", wantErr: ErrNotAdversarial},
		{name: "marker inside a word", line: "NOTADVERSARIAL scenario=x tried=y times=1 held=1 failed=0", wantErr: ErrNotAdversarial},
		{name: "marker alone", line: "ADVERSARIAL", wantErr: ErrBadLine},
		{name: "empty scenario", line: "ADVERSARIAL scenario= tried=bad times=1 held=1 failed=0", wantErr: ErrBadLine},
		{name: "count not a number", line: "ADVERSARIAL scenario=s tried=t times=x held=1 failed=0", wantErr: ErrBadLine},
		{name: "negative count", line: "ADVERSARIAL scenario=s tried=t times=1 held=-1 failed=0", wantErr: ErrBadLine},
		{name: "missing failed", line: "ADVERSARIAL scenario=s tried=t times=1 held=1", wantErr: ErrBadLine},
		{name: "held and failed exceed times", line: "ADVERSARIAL scenario=s tried=t times=1 held=1 failed=1", wantErr: ErrBadLine},
		{name: "huge counts do not overflow the check", line: "ADVERSARIAL scenario=s tried=t times=1 held=9223372036854775807 failed=9223372036854775807", wantErr: ErrBadLine},
		{name: "unknown key glues onto the value before it", line: "ADVERSARIAL scenario=s tried=t times=1 held=1 failed=0 color=red", wantErr: ErrBadLine},
		{name: "text before the first key", line: "ADVERSARIAL hello scenario=s tried=t times=1 held=1 failed=0", wantErr: ErrBadLine},
		{name: "duplicate key", line: "ADVERSARIAL scenario=s scenario=t tried=t times=1 held=1 failed=0", wantErr: ErrBadLine},
		{name: "bad quoting", line: `ADVERSARIAL scenario="s tried=t times=1 held=1 failed=0`, wantErr: ErrBadLine},
		{name: "text glued to a quoted value", line: `ADVERSARIAL scenario="s"x tried=t times=1 held=1 failed=0`, wantErr: ErrBadLine},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseLine(tt.line)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("err %v, want %v", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("got %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func FuzzParseLine(f *testing.F) {
	f.Add("ADVERSARIAL scenario=upstream down tried=proxy to a closed port times=20 held=20 failed=0")
	f.Add(`    x_test.go:1: ADVERSARIAL scenario="a b" tried="c=d" times=3 held=2 failed=1 detail=x y`)
	f.Add("ADVERSARIAL scenario= tried=bad times=x")
	f.Fuzz(func(t *testing.T, line string) {
		r, err := ParseLine(line)
		if err != nil {
			if !errors.Is(err, ErrNotAdversarial) && !errors.Is(err, ErrBadLine) {
				t.Fatalf("unexpected error kind: %v", err)
			}
			return
		}
		if r.Scenario == "" || r.Times < 0 || r.Held < 0 || r.Failed < 0 || r.Held+r.Failed > r.Times {
			t.Fatalf("accepted an inconsistent row %+v", r)
		}
	})
}

func TestParseTestJSON(t *testing.T) {
	f, err := os.Open("testdata/gotest-mixed.json")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	run, err := ParseTestJSON(f)
	if err != nil {
		t.Fatal(err)
	}
	type want struct {
		scenario string
		ok       bool
		detail   string // substring
	}
	wants := []want{
		{scenario: "upstream down", ok: true},
		{scenario: "long detail", ok: true, detail: "yyyy"},
		{scenario: "upstream slow", ok: true, detail: "agent got 504 in 1.0s"},
		{scenario: "access matrix", ok: false, detail: "admin grant minted"},
		{scenario: "ADVERSARIAL line in example.com/advmod/a TestAdversarialBroken", ok: false, detail: "no scenario"},
		{scenario: "example.com/advmod/a TestAdversarialFailsSilently", ok: false, detail: "boom without a line"},
		{scenario: "example.com/advmod/b TestAdversarialPanics", ok: false, detail: "panic: outside"},
		{scenario: "build example.com/advmod/c", ok: false, detail: "undefined: undefined"},
	}
	got := map[string]Row{}
	for _, r := range run.Rows {
		if _, dup := got[r.Scenario]; dup {
			t.Errorf("row %q twice", r.Scenario)
		}
		got[r.Scenario] = r
	}
	for _, w := range wants {
		t.Run(w.scenario, func(t *testing.T) {
			r, ok := got[w.scenario]
			if !ok {
				t.Fatalf("no row; rows: %v", keys(got))
			}
			if r.OK() != w.ok {
				t.Errorf("OK() = %v, want %v (%+v)", r.OK(), w.ok, r)
			}
			if !strings.Contains(r.Detail, w.detail) {
				t.Errorf("detail %q, want it to contain %q", clip(r.Detail, 80), w.detail)
			}
		})
	}
	// TestAdversarialBroken printed lines and failed: its rows carry the
	// failure, and it gets no row of its own beyond them.
	if _, ok := got["example.com/advmod/a TestAdversarialBroken"]; ok {
		t.Error("a failed test with ADVERSARIAL lines also got a row of its own")
	}
	if len(run.Rows) != len(wants) {
		t.Errorf("%d rows, want %d: %v", len(run.Rows), len(wants), keys(got))
	}
	if run.Passed != 3 || run.Failed != 3 || run.Skipped != 1 || run.BadLines != 1 {
		t.Errorf("passed %d failed %d skipped %d bad lines %d, want 3 3 1 1", run.Passed, run.Failed, run.Skipped, run.BadLines)
	}
}

func keys(m map[string]Row) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

func TestParseTestJSONEmpty(t *testing.T) {
	tests := []struct {
		name  string
		input string
	}{
		{name: "nothing", input: ""},
		{name: "no tests to run", input: `{"Action":"start","Package":"voicetoken/internal/token"}
{"Action":"output","Package":"voicetoken/internal/token","Output":"testing: warning: no tests to run\n"}
{"Action":"output","Package":"voicetoken/internal/token","Output":"PASS\n"}
{"Action":"pass","Package":"voicetoken/internal/token","Elapsed":0.01}
`},
		{name: "not JSON", input: "go: downloading example.com/x v1\n{not json\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			run, err := ParseTestJSON(strings.NewReader(tt.input))
			if err != nil {
				t.Fatal(err)
			}
			if len(run.Rows) != 0 || run.Passed+run.Failed+run.Skipped != 0 {
				t.Errorf("rows %v, tests %d/%d/%d", run.Rows, run.Passed, run.Failed, run.Skipped)
			}
		})
	}
}

func FuzzParseTestJSON(f *testing.F) {
	b, err := os.ReadFile("testdata/gotest-mixed.json")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(string(b[:4000]))
	f.Add(`{"Action":"output","Package":"p","Test":"TestAdversarialX","Output":"ADVERSARIAL scenario=s tried=t times=1 held=1 failed=0"}` + "\n" +
		`{"Action":"fail","Package":"p","Test":"TestAdversarialX"}` + "\n" + `{"Action":"fail","Package":"p"}`)
	f.Add(`{"Action":"fail","Package":"q"}`)
	f.Fuzz(func(t *testing.T, in string) {
		run, err := ParseTestJSON(strings.NewReader(in))
		if err != nil {
			return
		}
		for _, r := range run.Rows {
			if r.Scenario == "" {
				t.Fatalf("row without a scenario: %+v", r)
			}
			if r.Held+r.Failed > r.Times {
				t.Fatalf("inconsistent row %+v", r)
			}
		}
		if run.BadLines > len(run.Rows) {
			t.Fatalf("%d bad lines but %d rows", run.BadLines, len(run.Rows))
		}
	})
}
