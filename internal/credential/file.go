package credential

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/fsnotify/fsnotify"

	"voicetoken/internal/secretfile"
	"voicetoken/internal/token"
)

// fileSource is file:PATH: a file, such as /run/secrets/podium_token or a
// Kubernetes Secret volume, watched through its directory and polled.
type fileSource struct {
	path  string // absolute
	force bool
}

var (
	_ Watcher = (*fileSource)(nil)
	_ Writer  = (*fileSource)(nil)
)

// parseFile reads PATH, //localhost/PATH or ///PATH.
func parseFile(p string) (Spec, error) {
	if strings.HasPrefix(p, "//") { // file://host/path: only the local host
		host, path, _ := strings.Cut(p[2:], "/")
		if host != "" && host != "localhost" {
			return Spec{}, fmt.Errorf("%w: file: URL names host %q; only local files are supported", ErrSpec, printable(host))
		}
		p = "/" + path
	}
	if strings.TrimSpace(p) == "" {
		return Spec{}, fmt.Errorf("%w: file: needs a path", ErrSpec)
	}
	p = filepath.Clean(p)
	if strings.TrimSpace(p) == "" {
		return Spec{}, fmt.Errorf("%w: file: needs a path", ErrSpec)
	}
	return Spec{Kind: KindFile, Path: p}, nil
}

func openFile(s Spec, cfg Config) (Reader, error) {
	abs, err := filepath.Abs(s.Path)
	if err != nil {
		return nil, fmt.Errorf("credential file: %w", err)
	}
	return &fileSource{path: abs, force: cfg.Force}, nil
}

func (f *fileSource) String() string     { return "file:" + f.path }
func (f *fileSource) Schedule() Schedule { return Poll }

// Read refuses a path that could be committed (unless forced), then reads
// the file and warns when others can read it.
func (f *fileSource) Read(context.Context) ([]byte, string, error) {
	if !f.force {
		if err := CheckPath(f.path); err != nil {
			return nil, "", err
		}
	}
	b, err := readFile(f.path)
	if err != nil {
		return nil, "", err
	}
	return b, secretfile.ModeWarning(f.path), nil
}

// Watch watches the file's directory, not the file: an editor's rename
// and Kubernetes' ..data swap replace or bypass the file's inode, and a
// watch on it would go silent after the first update. When the path is a
// symlink into another directory (/etc/podium/token ->
// /srv/secrets/podium_token), where rotate replaces the file, that
// directory is watched too. Any event in them may be ours.
func (f *fileSource) Watch(notify func(), failed func(error)) (func(), error) {
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return nil, err
	}
	dir := filepath.Dir(f.path)
	if err := w.Add(dir); err != nil {
		w.Close()
		return nil, err
	}
	if target, err := filepath.EvalSymlinks(f.path); err == nil && filepath.Dir(target) != dir {
		_ = w.Add(filepath.Dir(target)) // best effort: the poll still catches a change there
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		forward(w, notify, failed)
	}()
	return func() { w.Close(); <-done }, nil
}

// forward calls notify for each event of w and failed for each error,
// until Close has closed both channels.
func forward(w *fsnotify.Watcher, notify func(), failed func(error)) {
	events, errs := w.Events, w.Errors
	for events != nil || errs != nil {
		select {
		case _, ok := <-events:
			if ok {
				notify()
			} else {
				events = nil
			}
		case err, ok := <-errs:
			if ok {
				failed(err)
			} else {
				errs = nil
			}
		}
	}
}

// Write is Rotate on this file.
func (f *fileSource) Write(_ context.Context, opts RotateOptions) (*RotateResult, error) {
	opts.Path = f.path
	opts.Force = opts.Force || f.force
	return Rotate(opts)
}

// readFile reads at most maxFileSize bytes of a regular file, following
// symlinks (Kubernetes mounts are symlinks into ..data).
func readFile(path string) ([]byte, error) {
	// Refuse what is not a regular file before opening it: opening a FIFO
	// blocks until a writer appears, which would hang every load (and
	// Reload, and Run) behind s.mu. The check after opening covers a swap
	// in between.
	if fi, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("read: %w", err)
	} else if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%w: %s", ErrNotRegular, path)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("read: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%w: %s", ErrNotRegular, path)
	}
	b, err := io.ReadAll(io.LimitReader(f, maxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("read: %w", err)
	}
	if len(b) > maxFileSize {
		return nil, fmt.Errorf("%w: %s is larger than %d bytes", token.ErrTooLarge, path, maxFileSize)
	}
	return b, nil
}

// CheckPath returns an error wrapping ErrUnsafePath when path is named
// like a dotenv file or lies inside a git work tree, with one line saying
// why. The rotation SOP forbids tokens in files that can be committed.
func CheckPath(path string) error {
	base := filepath.Base(path)
	if base == ".env" || strings.HasPrefix(base, ".env.") || strings.HasSuffix(base, ".env") {
		return fmt.Errorf("%w: %s is named like a dotenv file, which projects keep next to their code and commit by mistake; use a file outside the repository such as /run/secrets/podium_token (or --force)", ErrUnsafePath, path)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return fmt.Errorf("credential file: %w", err)
	}
	dirs := []string{filepath.Dir(abs)}
	if real, err := filepath.EvalSymlinks(abs); err == nil && filepath.Dir(real) != dirs[0] {
		dirs = append(dirs, filepath.Dir(real))
	}
	for _, d := range dirs {
		if root, ok := gitWorkTree(d); ok {
			return fmt.Errorf("%w: %s is inside the git work tree %s, where one 'git add' publishes it; keep tokens outside repositories (or --force)", ErrUnsafePath, path, root)
		}
	}
	return nil
}

// gitWorkTree walks up from dir looking for a .git directory or file.
func gitWorkTree(dir string) (string, bool) {
	for {
		if _, err := os.Lstat(filepath.Join(dir, ".git")); err == nil {
			return dir, true
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", false
		}
		dir = parent
	}
}
