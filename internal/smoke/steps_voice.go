package smoke

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4/pkg/media/oggwriter"

	"voicetoken/internal/check"
)

// maxRecordPackets bounds what --record keeps of one stretch of speech:
// 60 s of 20 ms packets.
const maxRecordPackets = 3000

// pollEvery wakes the voice waits when no packet arrives, so that the end
// of a stretch is seen when the agent stops sending altogether.
const pollEvery = 50 * time.Millisecond

// waitVoice waits until cond (called under the lock) holds, re-checking
// every pollEvery, until ctx ends or the real-clock deadline passes.
func (r *run) waitVoice(ctx context.Context, deadline time.Time, cond func() bool) error {
	ctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	tick := time.NewTicker(pollEvery)
	defer tick.Stop()
	for {
		r.a.mu.Lock()
		ok, err, ch := cond(), r.a.stateErr(), r.a.changed
		r.a.mu.Unlock()
		if ok {
			return nil
		}
		if err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-ch:
		case <-tick.C:
		}
	}
}

// heardSummary says what reached us from the agent, for a failure: no
// track at all, or packets that were all silence.
func (r *run) heardSummary() string {
	r.a.mu.Lock()
	defer r.a.mu.Unlock()
	l := r.a.heard[r.agent.SID]
	lvl := ""
	if v, ok := r.a.levels[r.agent.SID]; ok {
		lvl = fmt.Sprintf("; LiveKit's loudest level for it %.2f", v)
	}
	if l == nil {
		return "no audio track of it reached us" + lvl
	}
	return fmt.Sprintf("%d audio packets, none of them speech%s", l.packets, lvl)
}

func (r *run) hearGreeting(ctx context.Context) check.Result {
	id := r.agent.Identity
	var sp *speech
	// The greeting counts from the agent's join; a greeting heard
	// during the earlier steps is found at once.
	err := r.waitVoice(ctx, time.Now().Add(r.cfg.VoiceTimeout), func() bool {
		if l := r.a.heard[r.agent.SID]; l != nil {
			sp, r.greetIdx = l.speechFrom(0, time.Time{})
		}
		return sp != nil
	})
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			return check.Failf("agent %s joined but said nothing within %s (%s)", id, r.cfg.VoiceTimeout, r.heardSummary())
		}
		return r.failure(ctx, "listening to agent "+id, err)
	}
	r.greeting = sp
	r.a.mu.Lock()
	joined := r.a.seenAt[r.agent.SID]
	r.a.mu.Unlock()
	r.fig.Greeting, r.fig.HasGreeting = sp.start.Sub(joined), true
	// How long it spoke: wait for the end (a greeting is short).
	err = r.waitVoice(ctx, time.Now().Add(r.cfg.AgentTimeout), func() bool { return sp.over(time.Now()) })
	if err != nil {
		return r.failure(ctx, "agent "+id+" is still speaking its greeting", err)
	}
	r.a.mu.Lock()
	length := sp.length()
	r.a.mu.Unlock()
	r.fig.GreetingLength = length
	rec := r.record("greeting", sp)
	return check.Okf("agent %s spoke %s after joining, for %s%s", id, check.FormatDuration(r.fig.Greeting), formatSeconds(length), rec)
}

func (r *run) voiceRoundTrip(ctx context.Context) check.Result {
	id := r.agent.Identity
	if err := r.a.speak(ctx, r.say); err != nil {
		return r.failure(ctx, "speaking to agent "+id, err)
	}
	ended := r.cfg.Now()
	var sp *speech
	err := r.waitVoice(ctx, time.Now().Add(r.cfg.VoiceTimeout), func() bool {
		if l := r.a.heard[r.agent.SID]; l != nil {
			sp, _ = l.speechFrom(r.greetIdx+1, ended)
		}
		return sp != nil
	})
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			return check.Failf("agent %s said nothing within %s after our %s utterance ended", id, r.cfg.VoiceTimeout, formatSeconds(r.say.duration))
		}
		return r.failure(ctx, "listening to agent "+id, err)
	}
	r.fig.Reply, r.fig.HasReply = sp.start.Sub(ended), true
	rec := ""
	if r.cfg.RecordDir != "" {
		// Keep the whole reply: wait for its end, within the budget.
		if r.waitVoice(ctx, time.Now().Add(r.cfg.AgentTimeout), func() bool { return sp.over(time.Now()) }) == nil {
			rec = r.record("reply", sp)
		}
	}
	return check.Okf("agent %s replied %s after our %s utterance ended%s", id, check.FormatDuration(r.fig.Reply), formatSeconds(r.say.duration), rec)
}

// formatSeconds shows a length of speech: "1.02s".
func formatSeconds(d time.Duration) string {
	return fmt.Sprintf("%.2fs", d.Seconds())
}

// record writes what the agent said as Ogg/Opus in RecordDir and returns
// a note for the detail. The file is new: an existing file or link of
// that name is an error, never followed or overwritten.
func (r *run) record(what string, sp *speech) string {
	if r.cfg.RecordDir == "" {
		return ""
	}
	r.a.mu.Lock()
	pkts := sp.packets
	r.a.mu.Unlock()
	path := filepath.Join(r.cfg.RecordDir, r.room+"-"+what+".ogg")
	if err := writeOgg(path, pkts); err != nil {
		return fmt.Sprintf("; not recorded: %v", err)
	}
	r.records = append(r.records, path)
	return fmt.Sprintf("; recorded %d packets in %s", len(pkts), path)
}

// writeOgg writes the packets as one Ogg/Opus stream with pion's
// oggwriter, which marks the last page end-of-stream on close.
func writeOgg(path string, pkts []*rtp.Packet) (err error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL|syscall.O_NOFOLLOW, 0o644)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			os.Remove(path)
		}
	}()
	// The writer gets the file as a plain writer (it would close one it
	// can) and as the seekable output its close rewrites.
	w, err := oggwriter.NewWriter(struct{ io.Writer }{f}, oggwriter.WithSeekableOutput(f))
	if err != nil {
		return err
	}
	var ssrc uint32
	if len(pkts) > 0 {
		ssrc = pkts[0].SSRC
	}
	t, err := w.NewTrack(ssrc, oggwriter.WithSampleRate(48000), oggwriter.WithChannelCount(2))
	if err != nil {
		return err
	}
	for _, p := range pkts {
		if err := t.WriteRTP(p); err != nil {
			return fmt.Errorf("write %s: %w", path, err)
		}
	}
	return w.Close()
}
