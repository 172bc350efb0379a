package check

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// Status is a check's answer.
type Status int

// Statuses, from best to worst; Skipped is neither good nor bad.
const (
	OK Status = iota
	Warn
	Fail
	Skipped
)

func (s Status) String() string {
	switch s {
	case OK:
		return "ok"
	case Warn:
		return "warn"
	case Fail:
		return "fail"
	default:
		return "skipped"
	}
}

// MarshalText lets a Status appear as its name in JSON.
func (s Status) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// Value is the Prometheus gauge value: 1 ok, 0.5 warn, 0 fail.
func (s Status) Value() float64 {
	switch s {
	case OK:
		return 1
	case Warn:
		return 0.5
	default:
		return 0
	}
}

// Result is one check's outcome. A check's Run sets Status and Detail; the
// Runner sets Name, and Duration unless Run set it (a measured round trip).
type Result struct {
	Name     string
	Status   Status
	Detail   string
	Duration time.Duration
	// Expires is when the token the check read expires (the earliest
	// of several); zero when it read none or the token has no exp.
	// --watch exports it as voicetoken_check_token_expiry_seconds.
	Expires time.Time
}

// Okf, Warnf, Failf and Skipf build a Result with a formatted detail.
func Okf(format string, args ...any) Result {
	return Result{Status: OK, Detail: fmt.Sprintf(format, args...)}
}

// Warnf returns a warning Result.
func Warnf(format string, args ...any) Result {
	return Result{Status: Warn, Detail: fmt.Sprintf(format, args...)}
}

// Failf returns a failed Result.
func Failf(format string, args ...any) Result {
	return Result{Status: Fail, Detail: fmt.Sprintf(format, args...)}
}

// Skipf returns a skipped Result.
func Skipf(format string, args ...any) Result {
	return Result{Status: Skipped, Detail: fmt.Sprintf(format, args...)}
}

// Check is one runbook step.
type Check struct {
	// Name identifies the check in the table, the JSON and the metric
	// label. Names must be unique within one run.
	Name string
	// Timeout bounds Run; zero means the Runner's default.
	Timeout time.Duration
	// Needs names checks listed earlier that must not fail: when one
	// fails or is skipped, this check is skipped and says which.
	Needs []string
	// After names checks listed earlier that must finish first, whatever
	// their status: the page's token is checked after --fix rewrote it.
	After []string
	// Run does the check. It must honour ctx.
	Run func(ctx context.Context) Result
}

// DefaultTimeout bounds a check whose Timeout and Runner.Timeout are zero.
const DefaultTimeout = 10 * time.Second

// Runner runs checks. The zero value is ready to use.
type Runner struct {
	// Timeout is the default per-check timeout (DefaultTimeout if zero).
	Timeout time.Duration
	// Grace is how long after its timeout a check that ignores its
	// context is waited for before it is abandoned (default 1s).
	Grace time.Duration
	// Now measures durations; nil means time.Now. A fixed clock gives
	// zero durations, which golden tests rely on.
	Now func() time.Time
}

// Run runs checks in parallel, each after the checks it needs, and
// returns their results in the order given.
func (r *Runner) Run(ctx context.Context, checks []Check) []Result {
	st := &runState{checks: checks, results: make([]Result, len(checks)), done: make([]chan struct{}, len(checks)), now: r.Now}
	if st.now == nil {
		st.now = time.Now
	}
	for i := range checks {
		st.done[i] = make(chan struct{})
	}
	index := make(map[string]int, len(checks))
	var wg sync.WaitGroup
	for i, c := range checks {
		wg.Add(1)
		// Dependencies are resolved against the checks listed before this
		// one only, so a check can never wait for itself or a later one.
		p := scheduled{check: c}
		var badAfter string
		p.needs, p.bad = resolve(c.Needs, index)
		p.after, badAfter = resolve(c.After, index)
		if p.bad == "" {
			p.bad = badAfter
		}
		if _, dup := index[c.Name]; dup {
			p.bad = fmt.Sprintf("duplicate check name %q", c.Name)
		}
		index[c.Name] = i
		go func() {
			defer wg.Done()
			defer close(st.done[i])
			res := r.runOne(ctx, st, p)
			res.Name = c.Name
			res.Detail = sanitize(res.Detail)
			st.results[i] = res
		}()
	}
	wg.Wait()
	return st.results
}

// runState is what the checks of one Run share.
type runState struct {
	checks  []Check
	results []Result
	done    []chan struct{} // done[i] is closed once results[i] is set
	now     func() time.Time
}

// scheduled is one check with its dependencies resolved to indexes.
type scheduled struct {
	check Check
	bad   string // why the check cannot run at all ("" if it can)
	needs []int  // checks that must have passed first
	after []int  // checks that must have finished first, whatever their result
}

// resolve maps names to indexes of earlier checks; bad says what is wrong.
func resolve(names []string, index map[string]int) ([]int, string) {
	deps := make([]int, 0, len(names))
	for _, n := range names {
		j, ok := index[n]
		if !ok {
			return nil, fmt.Sprintf("needs %q, which is not listed before it", n)
		}
		deps = append(deps, j)
	}
	return deps, ""
}

// runOne runs one scheduled check once its dependencies allow, bounded
// by its timeout, and times it.
func (r *Runner) runOne(ctx context.Context, st *runState, p scheduled) Result {
	if p.bad != "" {
		return Failf("%s", p.bad)
	}
	if p.check.Run == nil {
		return Failf("check has no Run function")
	}
	if res, ok := st.wait(ctx, p); !ok {
		return res
	}
	timeout, grace := r.limits(p.check)
	start := st.now()
	res := runBounded(ctx, p.check.Run, timeout, grace)
	// A check that measured what it reports (smoke's round trip) keeps
	// its own figure, so the time column and the detail agree.
	if res.Duration <= 0 {
		res.Duration = st.now().Sub(start)
	}
	if res.Duration < 0 {
		res.Duration = 0
	}
	return res
}

// wait blocks until the checks p runs after have finished and those it
// needs have passed; when it may not run, ok is false and res says why.
func (st *runState) wait(ctx context.Context, p scheduled) (res Result, ok bool) {
	for _, j := range p.after {
		if !st.finished(ctx, j) {
			return Skipf("cancelled: %v", ctx.Err()), false
		}
	}
	for _, j := range p.needs {
		if !st.finished(ctx, j) {
			return Skipf("cancelled: %v", ctx.Err()), false
		}
		if s := st.results[j].Status; s == Fail || s == Skipped {
			return Skipf("needs %s (%s)", st.checks[j].Name, s), false
		}
	}
	return Result{}, true
}

// finished waits for check j's result; false when ctx ends first.
func (st *runState) finished(ctx context.Context, j int) bool {
	select {
	case <-st.done[j]:
		return true
	case <-ctx.Done():
		return false
	}
}

// limits are c's timeout (its own, else the Runner's, else
// DefaultTimeout) and how long after it c is waited for.
func (r *Runner) limits(c Check) (timeout, grace time.Duration) {
	timeout, grace = DefaultTimeout, time.Second
	if r.Timeout > 0 {
		timeout = r.Timeout
	}
	if c.Timeout > 0 {
		timeout = c.Timeout
	}
	if r.Grace > 0 {
		grace = r.Grace
	}
	return timeout, grace
}

// runBounded calls run with a context that ends after timeout, turning a
// panic into a failure, and abandons a run that ignores its context
// grace after that.
func runBounded(ctx context.Context, run func(context.Context) Result, timeout, grace time.Duration) Result {
	cctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	ch := make(chan Result, 1) // buffered: an abandoned check does not leak a blocked send
	go func() {
		defer func() {
			if p := recover(); p != nil {
				ch <- Failf("check panicked: %v", p)
			}
		}()
		ch <- run(cctx)
	}()
	hard := time.NewTimer(timeout + grace)
	defer hard.Stop()
	select {
	case res := <-ch:
		return res
	case <-hard.C:
		return Failf("did not finish within %s", timeout)
	}
}

// Summary counts results by status.
type Summary struct {
	OK      int `json:"ok"`
	Warn    int `json:"warn"`
	Fail    int `json:"fail"`
	Skipped int `json:"skipped"`
}

// Summarize counts results by status.
func Summarize(results []Result) Summary {
	var s Summary
	for _, r := range results {
		switch r.Status {
		case OK:
			s.OK++
		case Warn:
			s.Warn++
		case Fail:
			s.Fail++
		default:
			s.Skipped++
		}
	}
	return s
}

// Overall is the worst status among results: fail, else warn, else ok.
// Skipped checks do not count.
func Overall(results []Result) Status {
	s := Summarize(results)
	switch {
	case s.Fail > 0:
		return Fail
	case s.Warn > 0:
		return Warn
	}
	return OK
}

// Exit codes of `voicetoken check`.
const (
	ExitOK   = 0 // every check ok (or warn without strict)
	ExitFail = 1 // a check failed, or warned with strict
)

// ExitCode maps results to the process exit code: 1 when any check
// failed, or with strict when any warned; else 0.
func ExitCode(results []Result, strict bool) int {
	switch Overall(results) {
	case Fail:
		return ExitFail
	case Warn:
		if strict {
			return ExitFail
		}
	}
	return ExitOK
}
