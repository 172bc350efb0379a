package main

import (
	"context"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/fsnotify/fsnotify"

	"voicetoken/internal/credential"
	"voicetoken/internal/testkit"
	"voicetoken/internal/token"
)

// RotateStats are the rotate-kill scenario's counts.
type RotateStats struct {
	Runs          int      `json:"runs"`
	KilledMidRun  int      `json:"killed_mid_run"`
	KilledInWrite int      `json:"killed_in_write_phase"`
	AimedAtWrite  int      `json:"runs_aimed_at_write_phase"`
	FinishedFirst int      `json:"finished_before_the_kill"`
	TempLeft      int      `json:"runs_that_left_a_temp_file"`
	TempsAtEnd    int      `json:"temp_files_at_end"`
	Whole         int      `json:"file_whole_after"`
	BackupOK      int      `json:"backups_whole_after"`
	NewAfter      int      `json:"file_holds_new_token"`
	OldAfter      int      `json:"file_holds_old_token"`
	MedianMS      float64  `json:"rotate_median_ms"`
	WriteMS       float64  `json:"write_phase_median_ms"`
	Problems      []string `json:"problems,omitempty"`
}

// runRotate kills `voicetoken rotate` with SIGKILL at random moments,
// kills times. The token file alternates between two tokens A and B;
// half the runs keep one backup (NAME.bak), half three (NAME.bak plus
// timestamped ones moved aside), so both backup paths are cut.
//
// Half the kills land uniformly over a whole rotate (exec to exit,
// median of 5 measured first): start-up, reading stdin, validating, the
// writes. Process start-up is most of that time, so the other half are
// aimed at the writes: after fsnotify reports the first change in the
// directory, at a random point of the write phase's median length (x1.2):
// the backup, the temporary file, its fsync, the rename, the directory
// fsync. Runs go on until kills of them were killed mid-run.
func runRotate(ctx context.Context, r *runner, kills int) ([]Row, *RotateStats) {
	fail := func(err error) ([]Row, *RotateStats) {
		return []Row{{Scenario: "rotate under SIGKILL", Tried: "set up", Times: 1, Failed: 1, Fail: true, Detail: err.Error()}}, nil
	}
	bin, dir, err := r.prepare(ctx, "rotate")
	if err != nil {
		return fail(err)
	}
	now := time.Now()
	// Stand-ins for an agent's upstream JWT: rotate checks shape and
	// expiry, not the signature.
	a, err := testkit.JWT(map[string]any{"iss": "podium", "sub": "a", "exp": now.Add(2 * time.Hour).Unix()})
	if err != nil {
		return fail(err)
	}
	b, err := testkit.JWT(map[string]any{"iss": "podium", "sub": "b", "exp": now.Add(3 * time.Hour).Unix()})
	if err != nil {
		return fail(err)
	}
	toks := map[string]string{a: "A", b: "B"}
	inputs := map[string]string{}
	for t, n := range toks {
		p := filepath.Join(r.work, "rotate-input-"+n+".jwt") // outside the watched directory
		if err := os.WriteFile(p, []byte(t+"\n"), 0o600); err != nil {
			return fail(err)
		}
		inputs[t] = p
	}
	path := filepath.Join(dir, "podium_token")
	if err := os.WriteFile(path, []byte(a+"\n"), 0o600); err != nil {
		return fail(err)
	}
	current := func() (string, error) {
		b, err := os.ReadFile(path)
		return strings.TrimSpace(string(b)), err
	}
	rotate := func(to string, backups int) *exec.Cmd {
		cmd := exec.Command(bin, "rotate", "--to", "file:"+path, "--backups", fmt.Sprint(backups))
		in, _ := os.Open(inputs[to])
		cmd.Stdin = in
		cmd.Env = append(os.Environ(), "PODIUM_TOKEN_FILE=")
		return cmd
	}
	other := func(t string) string {
		if t == a {
			return b
		}
		return a
	}
	// The write phase starts with the first change in the directory
	// (the backup's temporary file): fsnotify tells when, so half the
	// kills can be aimed inside it rather than at process start-up,
	// which takes most of a rotate's time.
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return fail(fmt.Errorf("fsnotify: %w", err))
	}
	defer w.Close()
	if err := w.Add(dir); err != nil {
		return fail(fmt.Errorf("fsnotify: %w", err))
	}
	// drain discards the previous run's events: they trickle in after it
	// exits, so wait for 5 ms of quiet.
	drain := func() {
		for {
			select {
			case <-w.Events:
			case <-w.Errors:
			case <-time.After(5 * time.Millisecond):
				return
			}
		}
	}
	start := func(backups int) (*exec.Cmd, chan error, string, error) {
		cur, err := current()
		if err != nil {
			return nil, nil, "", fmt.Errorf("token file unreadable before the run: %w", err)
		}
		if toks[cur] == "" {
			return nil, nil, "", errors.New("token file holds neither token before the run")
		}
		drain()
		cmd := rotate(other(cur), backups)
		if err := cmd.Start(); err != nil {
			return nil, nil, "", err
		}
		done := make(chan error, 1)
		go func() { done <- cmd.Wait(); closeStdin(cmd) }()
		return cmd, done, cur, nil
	}
	// Time whole rotations first; they also leave a backup, so "a backup
	// exists" holds from the first kill on.
	var whole, writes []time.Duration
	for i := range 5 {
		t0 := time.Now()
		_, done, _, err := start(1 + 2*(i%2))
		if err != nil {
			return fail(err)
		}
		var tw time.Time
		select {
		case <-w.Events:
			tw = time.Now()
			err = <-done
		case err = <-done:
		}
		if err != nil {
			return fail(fmt.Errorf("a rotate without a kill failed: %w", err))
		}
		whole = append(whole, time.Since(t0))
		if !tw.IsZero() {
			writes = append(writes, time.Since(tw))
		}
	}
	if len(writes) == 0 {
		return fail(errors.New("fsnotify saw no write in the token's directory"))
	}
	slices.Sort(whole)
	slices.Sort(writes)
	median, write := whole[len(whole)/2], max(writes[len(writes)/2], 100*time.Microsecond)
	st := &RotateStats{MedianMS: ms(median), WriteMS: ms(write)}
	r.progress("rotate: %d SIGKILLs mid-run; a rotate takes %.1f ms, its writes the last %.1f ms", kills, st.MedianMS, st.WriteMS)

	problem := func(i int, format string, args ...any) {
		if len(st.Problems) < 10 {
			st.Problems = append(st.Problems, fmt.Sprintf("run %d: ", i)+fmt.Sprintf(format, args...))
		}
	}
	// Run until kills runs were killed mid-run (a kill after the process
	// finished proves nothing), at most 4x as many runs.
	for i := 0; st.KilledMidRun < kills && i < 4*kills && ctx.Err() == nil; i++ {
		backups := 1 + 2*(i/2%2)
		m, _ := filepath.Glob(filepath.Join(dir, ".podium_token*.tmp-*"))
		tempsBefore := len(m)
		cmd, done, cur, err := start(backups)
		if err != nil {
			problem(i, "%v", err)
			break
		}
		// Even runs: killed anywhere in 0..1x a whole rotate. Odd runs:
		// killed at a random point of the write phase.
		var exited bool
		var werr error
		delay := time.Duration(mrand.Int64N(int64(median)))
		if i%2 == 1 {
			st.AimedAtWrite++
			select {
			case <-w.Events:
			case werr = <-done:
				exited = true
			}
			delay = time.Duration(mrand.Int64N(int64(write) * 6 / 5))
		}
		if !exited {
			select {
			case <-time.After(delay):
				cmd.Process.Signal(syscall.SIGKILL)
				werr = <-done
			case werr = <-done:
			}
		}
		st.Runs++
		var ee *exec.ExitError
		switch {
		case errors.As(werr, &ee) && ee.ProcessState.Sys().(syscall.WaitStatus).Signaled():
			st.KilledMidRun++
			if i%2 == 1 {
				st.KilledInWrite++
			}
		case werr == nil:
			st.FinishedFirst++
		default:
			problem(i, "rotate failed on its own: %v", werr)
		}
		if m, _ := filepath.Glob(filepath.Join(dir, ".podium_token*.tmp-*")); len(m) > tempsBefore {
			st.TempLeft++
		}
		// The file: a whole token, old or new, that validates.
		got, err := current()
		switch {
		case err != nil:
			problem(i, "token file unreadable after the kill: %v", err)
		case toks[got] == "":
			problem(i, "token file holds neither token whole (%d bytes, fingerprint %s)", len(got), token.Fingerprint(got))
		default:
			if _, err := (credential.Policy{}).Check(got, time.Now()); err != nil {
				problem(i, "token file does not validate: %v", err)
			} else {
				st.Whole++
				if got == cur {
					st.OldAfter++
				} else {
					st.NewAfter++
				}
			}
		}
		// The backups: at least one, each a whole token, at most 3.
		baks, err := credential.Backups(path)
		okBaks := err == nil && len(baks) > 0 && len(baks) <= 3
		for _, p := range baks {
			bb, err := os.ReadFile(p)
			if err != nil || toks[strings.TrimSpace(string(bb))] == "" {
				okBaks = false
				problem(i, "backup %s is not a whole token", filepath.Base(p))
			}
		}
		if okBaks {
			st.BackupOK++
		} else if len(baks) == 0 || len(baks) > 3 {
			problem(i, "%d backups after the kill, want 1-3", len(baks))
		}
	}
	m, _ := filepath.Glob(filepath.Join(dir, ".podium_token*.tmp-*"))
	st.TempsAtEnd = len(m)
	rows := []Row{
		{
			Scenario: "rotate under SIGKILL: token file",
			Tried:    fmt.Sprintf("SIGKILL at a random point; half aimed in the writes (last %.1f of %.0f ms)", st.WriteMS, st.MedianMS),
			Times:    int64(st.Runs), Held: int64(st.Whole), Failed: int64(st.Runs - st.Whole),
			Detail: fmt.Sprintf("%d killed mid-run (%d in the writes), %d finished first; then %d old, %d new token; %d left a temp file, %d at the end",
				st.KilledMidRun, st.KilledInWrite, st.FinishedFirst, st.OldAfter, st.NewAfter, st.TempLeft, st.TempsAtEnd),
		},
		{
			Scenario: "rotate under SIGKILL: backup",
			Tried:    "after each run: 1-3 backups, each a whole token",
			Times:    int64(st.Runs), Held: int64(st.BackupOK), Failed: int64(st.Runs - st.BackupOK),
			Detail: "--backups 1 and 3 alternating (NAME.bak; NAME.bak plus timestamped ones moved aside)",
		},
	}
	if len(st.Problems) > 0 {
		rows[0].Fail = true
		rows[0].Detail += "; " + strings.Join(st.Problems, "; ")
	}
	if st.KilledMidRun < kills {
		rows[0].Fail = true
		rows[0].Detail += fmt.Sprintf("; only %d of %d kills landed mid-run", st.KilledMidRun, kills)
	}
	return rows, st
}

func closeStdin(cmd *exec.Cmd) {
	if f, ok := cmd.Stdin.(*os.File); ok {
		f.Close()
	}
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
