package smoke

import (
	"context"
	"slices"
	"sync"
	"time"

	"voicetoken/internal/check"
)

// roomStagger spaces the starts of RunRooms' sessions: they all run at
// once, but 2n peer connections and n agent jobs do not all start in the
// same instant (a ramp, as load tests do).
const roomStagger = 200 * time.Millisecond

// RunRooms runs n independent sessions at once, each in its own fresh
// room (cfg.Room is ignored when n > 1: one agent job per room), and
// returns their outcomes in order.
func RunRooms(ctx context.Context, cfg Config, n int) []Outcome {
	if n <= 1 {
		return []Outcome{Run(ctx, cfg)}
	}
	cfg.Room = ""
	out := make([]Outcome, n)
	var wg sync.WaitGroup
	for i := range out {
		wg.Go(func() {
			t := time.NewTimer(time.Duration(i) * roomStagger)
			defer t.Stop()
			select {
			case <-ctx.Done():
			case <-t.C:
			}
			out[i] = Run(ctx, cfg)
		})
	}
	wg.Wait()
	return out
}

// Spread is one figure over many rooms: how many rooms measured it and
// its median, 95th percentile and maximum.
type Spread struct {
	N             int
	P50, P95, Max time.Duration
}

// Load sums up RunRooms, as `lk perf agent-load-test` reports an agent
// under load.
type Load struct {
	Rooms    int
	Failed   int
	Failures map[string]int // by the step that failed
	Join     Spread
	Greeting Spread
	Reply    Spread
}

// Summarize computes the Load of several outcomes.
func Summarize(outs []Outcome) Load {
	l := Load{Rooms: len(outs), Failures: map[string]int{}}
	var join, greet, reply []time.Duration
	for _, o := range outs {
		for _, r := range o.Results {
			if r.Status == check.Fail {
				l.Failed++
				l.Failures[r.Name]++
				break
			}
		}
		f := o.Figures
		if f.HasJoin {
			join = append(join, f.Join)
		}
		if f.HasGreeting {
			greet = append(greet, f.Greeting)
		}
		if f.HasReply {
			reply = append(reply, f.Reply)
		}
	}
	l.Join, l.Greeting, l.Reply = spread(join), spread(greet), spread(reply)
	return l
}

// spread uses the nearest-rank percentile: the value below which p% of
// the rooms fall, one of the measured values.
func spread(d []time.Duration) Spread {
	if len(d) == 0 {
		return Spread{}
	}
	slices.Sort(d)
	rank := func(p int) time.Duration {
		i := (p*len(d)+99)/100 - 1
		return d[max(i, 0)]
	}
	return Spread{N: len(d), P50: rank(50), P95: rank(95), Max: d[len(d)-1]}
}
