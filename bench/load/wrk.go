package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"math"
	"os/exec"
	"strconv"
	"strings"
	"time"
)

// wrkDriver drives a URL with wrk (github.com/wg/wrk), the tool issue 4's
// reference figures were taken with (`wrk -t2 -c32 -d10s`). wrk is C and
// spends less of the two shared cores than the Go driver, which changes
// how much is left for the server: the same servers measure differently
// under the two drivers, so run.sh reports both.
type wrkDriver struct {
	bin     string // path of the wrk binary
	threads int
}

// drive runs wrk for warmup (discarded), then for dur, and reports.
func (d wrkDriver) drive(u string, conns int, warmup, dur time.Duration) result {
	if warmup > 0 {
		if _, err := d.run(u, conns, warmup); err != nil {
			return result{Err: err.Error()}
		}
	}
	r, err := d.run(u, conns, dur)
	if err != nil {
		return result{Err: err.Error()}
	}
	return r
}

func (d wrkDriver) run(u string, conns int, dur time.Duration) (result, error) {
	secs := max(1, int(dur.Round(time.Second)/time.Second))
	ctx, cancel := context.WithTimeout(context.Background(), time.Duration(secs)*time.Second+30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, d.bin, "-t", strconv.Itoa(d.threads), "-c", strconv.Itoa(conns),
		"-d", strconv.Itoa(secs)+"s", "--latency", u)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return result{}, fmt.Errorf("wrk: %w: %s", err, firstLine(string(out)))
	}
	return parseWrk(string(out))
}

// parseWrk reads the summary `wrk --latency` prints: the request count,
// Requests/sec, the 50% and 99% lines of the latency distribution, and
// the error lines (socket errors and non-2xx/3xx answers), which appear
// only when there are any.
func parseWrk(out string) (result, error) {
	var r result
	var haveReqs, haveRate, haveP50, haveP99 bool
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		switch {
		case len(f) >= 3 && f[1] == "requests" && f[2] == "in":
			n, err := count(f[0])
			if err != nil {
				return result{}, fmt.Errorf("wrk request count %q: %w", f[0], err)
			}
			r.Requests, haveReqs = n, true
		case len(f) == 2 && f[0] == "Requests/sec:":
			v, err := strconv.ParseFloat(f[1], 64)
			if err != nil || !(v >= 0) || math.IsInf(v, 1) {
				return result{}, fmt.Errorf("wrk Requests/sec %q: %w", f[1], err)
			}
			r.ReqPerSec, haveRate = v, true
		case len(f) == 2 && (f[0] == "50%" || f[0] == "99%"):
			ms, err := wrkMillis(f[1])
			if err != nil {
				return result{}, err
			}
			if f[0] == "50%" {
				r.P50ms, haveP50 = ms, true
			} else {
				r.P99ms, haveP99 = ms, true
			}
		case len(f) >= 2 && f[0] == "Socket" && f[1] == "errors:":
			// Socket errors: connect 0, read 0, write 0, timeout 0
			for i := 3; i < len(f); i += 2 {
				n, err := count(strings.TrimSuffix(f[i], ","))
				if err == nil {
					err = r.addErrors(n)
				}
				if err != nil {
					return result{}, fmt.Errorf("wrk socket errors %q: %w", f[i], err)
				}
			}
		case len(f) == 5 && f[0] == "Non-2xx":
			n, err := count(f[4])
			if err == nil {
				err = r.addErrors(n)
			}
			if err != nil {
				return result{}, fmt.Errorf("wrk non-2xx count %q: %w", f[4], err)
			}
		}
	}
	if !haveReqs || !haveRate || !haveP50 || !haveP99 {
		return result{}, fmt.Errorf("wrk printed no summary (was --latency given?): %s", firstLine(out))
	}
	// wrk counts every answer as a request; the Go driver counts only the
	// 200s, in both the count and the rate.
	if total := r.Requests; total > 0 {
		r.Requests = max(0, total-r.Errors)
		r.ReqPerSec *= float64(r.Requests) / float64(total)
	}
	return r, nil
}

func (r *result) addErrors(n int64) error {
	if n > math.MaxInt64-r.Errors {
		return errors.New("error count overflows")
	}
	r.Errors += n
	return nil
}

// count parses a count wrk printed: a non-negative int64.
func count(s string) (int64, error) {
	n, err := strconv.ParseUint(s, 10, 63)
	return int64(n), err
}

// wrkMillis converts wrk's latency figures (750.00us, 1.38ms, 2.01s,
// 1.00m) to milliseconds.
func wrkMillis(s string) (float64, error) {
	units := []struct {
		suffix string
		ms     float64
	}{{"us", 1e-3}, {"ms", 1}, {"s", 1e3}, {"m", 60e3}, {"h", 3600e3}}
	for _, u := range units {
		if num, ok := strings.CutSuffix(s, u.suffix); ok {
			v, err := strconv.ParseFloat(num, 64)
			if err != nil || !(v >= 0) || math.IsInf(v, 1) {
				break
			}
			return v * u.ms, nil
		}
	}
	return 0, fmt.Errorf("wrk latency %q: want a number with us, ms, s, m or h", s)
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(strings.TrimSpace(s), "\n")
	if s == "" {
		return "(no output)"
	}
	return s
}
