package smoke

import (
	"testing"
	"time"

	"voicetoken/internal/check"
)

func TestSummarize(t *testing.T) {
	ms := func(n int) time.Duration { return time.Duration(n) * time.Millisecond }
	ok := func(join, greet, reply int) Outcome {
		return Outcome{
			Results: []check.Result{{Name: StepJoinA, Status: check.OK}, {Name: StepVoice, Status: check.OK}},
			Figures: Figures{Join: ms(join), Greeting: ms(greet), Reply: ms(reply), HasJoin: true, HasGreeting: true, HasReply: true},
		}
	}
	var outs []Outcome
	for i := 1; i <= 20; i++ {
		outs = append(outs, ok(i*10, i*100, i*50))
	}
	outs = append(outs,
		Outcome{Results: []check.Result{{Name: StepJoinA, Status: check.OK}, {Name: StepGreeting, Status: check.Fail}, {Name: StepVoice, Status: check.Skipped}},
			Figures: Figures{Join: ms(5000), HasJoin: true}},
		Outcome{Results: []check.Result{{Name: StepJoinA, Status: check.Fail}}},
	)
	l := Summarize(outs)
	if l.Rooms != 22 || l.Failed != 2 || l.Failures[StepGreeting] != 1 || l.Failures[StepJoinA] != 1 {
		t.Errorf("rooms %d failed %d failures %v", l.Rooms, l.Failed, l.Failures)
	}
	tests := []struct {
		name string
		got  Spread
		want Spread
	}{
		{name: "join", got: l.Join, want: Spread{N: 21, P50: ms(110), P95: ms(200), Max: ms(5000)}},
		{name: "greeting", got: l.Greeting, want: Spread{N: 20, P50: ms(1000), P95: ms(1900), Max: ms(2000)}},
		{name: "reply", got: l.Reply, want: Spread{N: 20, P50: ms(500), P95: ms(950), Max: ms(1000)}},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("%s: %+v, want %+v", tt.name, tt.got, tt.want)
		}
	}
	if s := Summarize(nil); s.Rooms != 0 || s.Reply != (Spread{}) {
		t.Errorf("no rooms: %+v", s)
	}
	if s := spread([]time.Duration{ms(7)}); s != (Spread{N: 1, P50: ms(7), P95: ms(7), Max: ms(7)}) {
		t.Errorf("one room: %+v", s)
	}
}
