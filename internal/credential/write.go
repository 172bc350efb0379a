package credential

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"voicetoken/internal/secretfile"
)

// FileMode is the mode of every token file and backup rotate writes:
// readable by the owner only.
const FileMode fs.FileMode = 0o600

// WriteFile replaces path with data atomically and gives it mode perm,
// owned by the writer: ReplaceFile with those attributes. Readers see the
// old content or the new, never a mix; a crash leaves at most a stray
// temporary file, which the next Rotate removes. A symlink at path is
// replaced, not followed. Rotate and FixPage keep the old file's owner
// and mode instead (ReadCurrent, ReplaceFile).
func WriteFile(path string, data []byte, perm fs.FileMode) error {
	return ReplaceFile(path, data, ReplaceOptions{Attrs: Attrs{Mode: perm}})
}

func tempPrefix(base string) string { return "." + base + ".tmp-" }

func hook(step func(string) error, name string) error {
	if step == nil {
		return nil
	}
	return step(name)
}

// RotateOptions configures Rotate.
type RotateOptions struct {
	// Path is the token file to replace.
	Path string
	// Token is the new value; surrounding whitespace is trimmed.
	Token string
	// Policy validates the new value before anything is written.
	Policy Policy
	// Backups is how many previous values to keep: 0 none, 1 NAME.bak,
	// n > 1 NAME.bak plus n-1 older ones named NAME.bak.<UTC time>.
	Backups int
	// DryRun validates and reports without writing.
	DryRun bool
	// Force allows a path inside a git work tree or named like .env, a
	// symlink or file others could have planted (ErrPlantedLink), and
	// overwriting a file that holds no token (ErrNotToken).
	Force bool
	// Now is the clock; nil means time.Now.
	Now func() time.Time

	// step, when set (by tests), is called after each durable step and
	// may fail it, to prove every intermediate state is safe.
	step func(string) error
}

// RotateResult reports what Rotate did. It holds fingerprints, never
// token values (Credential prints as its fingerprint).
type RotateResult struct {
	// Path is the file replaced: the target when the path given was a
	// symlink, which is then Link. For RotateVault it is the spec,
	// vault:MOUNT/PATH#FIELD.
	Path string
	Link string
	// Old is the previous value, nil when there was no file or it could
	// not be decoded (then OldErr says why).
	Old    *Credential
	OldErr error
	// New is the validated new value.
	New *Credential
	// Unchanged is true when the file already held the new value; nothing
	// is written then.
	Unchanged bool
	// Backup is the backup written, "" when none; for Vault, the version
	// Vault keeps.
	Backup string
	// Version is the new KV version a Vault rotation wrote.
	Version int
	// Pruned lists old backups removed to keep Backups.
	Pruned []string
	// Warnings are one-line notes such as a loose directory mode.
	Warnings []string
}

// Rotate validates opts.Token, backs up the current file and replaces it
// atomically. The steps are ordered so that a crash at any point leaves
// path holding the old or the new token, whole: (1) validate, and refuse
// a target others could have planted, one that holds no token, or one
// whose owner cannot be kept, (2) write the old value to NAME.bak (itself
// atomically), (3) replace the file, (4) prune old backups. The new file
// and the backup keep the old file's owner, group and mode (a new file is
// 0600). Concurrent Rotates on one directory are serialised by a lock on
// the directory.
func Rotate(opts RotateOptions) (*RotateResult, error) {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	res, err := rotateTarget(opts)
	if err != nil {
		return res, err
	}
	path := res.Path
	if err := checkRotation(path, opts, res); err != nil {
		return res, err
	}
	dir := filepath.Dir(path)
	unlock, err := lockDir(dir, opts.DryRun)
	if err != nil {
		return res, fmt.Errorf("lock %s: %w", dir, err)
	}
	defer unlock()

	cur, err := ReadCurrent(path, maxFileSize)
	if err != nil {
		return res, fmt.Errorf("current token: %w", err)
	}
	if err := judgeCurrent(path, cur, opts, res); err != nil {
		return res, err
	}
	if err := CanKeep(path, cur.Attrs); err != nil {
		return res, err
	}
	if res.Old != nil && res.Old.value == res.New.value {
		res.Unchanged = true
		return res, nil
	}
	if opts.DryRun {
		return res, nil
	}
	return res, replaceToken(path, cur, opts, res)
}

// rotateTarget returns a result naming the file to replace: opts.Path made
// absolute, or the file it leads to when it is a symlink
// (/etc/podium/token -> /srv/secrets/podium_token), which is then Link.
// The link stays: renaming over it would turn it into a file of its own
// and leave the target, which the agent may read, holding the old token.
func rotateTarget(opts RotateOptions) (*RotateResult, error) {
	path, err := filepath.Abs(opts.Path)
	if err != nil {
		return nil, fmt.Errorf("token file: %w", err)
	}
	res := &RotateResult{Path: path}
	target, link, err := ResolveLink(path, opts.Force)
	if err != nil {
		return res, err
	}
	if link {
		res.Link, res.Path = path, target
	}
	return res, nil
}

// checkRotation validates what needs no lock: the new token (res.New),
// the path (unless forced) and the backup count; it warns about a
// directory others can write.
func checkRotation(path string, opts RotateOptions, res *RotateResult) error {
	nc, err := opts.Policy.Check(opts.Token, opts.Now())
	if err != nil {
		return fmt.Errorf("new token: %w", err)
	}
	res.New = nc
	if !opts.Force {
		if err := checkWritePath(path); err != nil {
			return err
		}
	}
	if opts.Backups < 0 {
		return fmt.Errorf("backups must not be negative")
	}
	dir := filepath.Dir(path)
	fi, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("token directory: %w", err)
	}
	if fi.Mode().Perm()&0o022 != 0 {
		res.Warnings = append(res.Warnings, fmt.Sprintf("directory %s has mode %#o: others can replace files in it (chmod 700 %s)", dir, fi.Mode().Perm(), dir))
	}
	return nil
}

// judgeCurrent decodes the file being replaced into res.Old and refuses,
// unless forced, a file others could have planted or one that holds
// something other than a token. A missing file passes.
func judgeCurrent(path string, cur Current, opts RotateOptions, res *RotateResult) error {
	if !cur.Exists {
		return nil
	}
	if !opts.Force {
		if err := CheckPlanted(path); err != nil {
			return err
		}
	}
	res.Old, res.OldErr = Inspect(string(cur.Data))
	// An empty file is a token file waiting for its first token; a
	// file with anything else in it may be a config given by mistake.
	if res.OldErr != nil && len(bytes.TrimSpace(cur.Data)) > 0 && !opts.Force {
		return fmt.Errorf("%w: %s is not a token (%w); check --to, or --force to replace it", ErrNotToken, path, res.OldErr)
	}
	if w := secretfile.ModeWarning(path); w != "" {
		res.Warnings = append(res.Warnings, w+"; the mode is kept")
	}
	return nil
}

// replaceToken does the writing, under the directory lock: back up the
// current value, replace the file keeping cur's attributes, then prune
// old backups (a failure there is only a warning).
func replaceToken(path string, cur Current, opts RotateOptions, res *RotateResult) error {
	removeStaleTemps(filepath.Dir(path), filepath.Base(path))
	if cur.Exists && opts.Backups > 0 {
		bak, err := backup(path, cur, opts)
		if err != nil {
			return fmt.Errorf("back up the current token (nothing was changed): %w", err)
		}
		res.Backup = bak
	}
	if err := ReplaceFile(path, []byte(res.New.value+"\n"), ReplaceOptions{Attrs: cur.Attrs, step: opts.step}); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if opts.Backups <= 0 {
		return nil
	}
	pruned, err := pruneBackups(path, opts.Backups-1)
	res.Pruned = pruned
	if err != nil {
		res.Warnings = append(res.Warnings, "pruning old backups: "+err.Error())
	}
	return nil
}

// checkWritePath is CheckPath for a file that may not exist yet: the
// directory is resolved first, so that a new file reached through a
// symlinked directory (outside -> repo/secrets) is judged where it lands.
func checkWritePath(path string) error {
	if err := CheckPath(path); err != nil {
		return err
	}
	dir, err := filepath.EvalSymlinks(filepath.Dir(path))
	if err != nil || dir == filepath.Dir(path) {
		return nil // a missing directory fails at the write
	}
	return CheckPath(filepath.Join(dir, filepath.Base(path)))
}

// backup writes the old value to NAME.bak, first moving an existing
// NAME.bak aside to NAME.bak.<time> when more than one is kept.
// The backup gets the current file's owner, group and mode: it holds the
// same secret, so it is readable by the same people and no more.
func backup(path string, cur Current, opts RotateOptions) (string, error) {
	bak := path + ".bak"
	if opts.Backups > 1 {
		if err := moveAside(path, bak, opts); err != nil {
			return "", err
		}
	}
	if err := ReplaceFile(bak, cur.Data, ReplaceOptions{Attrs: cur.Attrs}); err != nil {
		return "", err
	}
	if err := hook(opts.step, "backup-written"); err != nil {
		return "", err
	}
	return bak, nil
}

// moveAside renames an existing NAME.bak to NAME.bak.<its time>, after
// pruning to make room first, so that even a crash between any two steps
// leaves at most Backups backups.
func moveAside(path, bak string, opts RotateOptions) error {
	fi, err := os.Lstat(bak)
	if err != nil {
		return nil // no NAME.bak: nothing to move
	}
	if _, err := pruneBackups(path, opts.Backups-2); err != nil {
		return err
	}
	if err := os.Rename(bak, asideName(bak, fi.ModTime())); err != nil {
		return err
	}
	return hook(opts.step, "backup-moved")
}

// asideName is the name NAME.bak moves to: NAME.bak.<UTC time t>, with
// -1, -2, ... added while that name is taken.
func asideName(bak string, t time.Time) string {
	stamp := bak + "." + t.UTC().Format("20060102T150405.000000000Z")
	name := stamp
	for i := 1; ; i++ {
		if _, err := os.Lstat(name); errors.Is(err, fs.ErrNotExist) {
			return name
		}
		name = fmt.Sprintf("%s-%d", stamp, i)
	}
}

// Backups lists the backups of path, newest first: NAME.bak, then the
// timestamped ones.
func Backups(path string) ([]string, error) {
	var out []string
	if _, err := os.Lstat(path + ".bak"); err == nil {
		out = append(out, path+".bak")
	}
	old, err := filepath.Glob(globEscape(path) + ".bak.*")
	if err != nil {
		return nil, err
	}
	slices.Sort(old)
	slices.Reverse(old)
	return append(out, old...), nil
}

func pruneBackups(path string, keep int) ([]string, error) {
	old, err := filepath.Glob(globEscape(path) + ".bak.*")
	if err != nil || len(old) <= keep {
		return nil, err
	}
	slices.Sort(old) // the timestamp sorts oldest first
	var pruned []string
	var errs []error
	for _, p := range old[:len(old)-keep] {
		if err := os.Remove(p); err != nil {
			errs = append(errs, err)
			continue
		}
		pruned = append(pruned, p)
	}
	return pruned, errors.Join(errs...)
}

// removeStaleTemps deletes temporary files a crashed rotate left behind.
// It runs under the directory lock, so none belongs to a live rotate.
func removeStaleTemps(dir, base string) {
	for _, name := range []string{base, base + ".bak"} {
		m, _ := filepath.Glob(filepath.Join(globEscape(dir), globEscape(tempPrefix(name))+"*"))
		for _, p := range m {
			os.Remove(p)
		}
	}
}

func globEscape(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `*`, `\*`, `?`, `\?`, `[`, `\[`)
	return r.Replace(s)
}
