package server

import (
	"context"
	"fmt"
	"path/filepath"
	"time"

	"github.com/fsnotify/fsnotify"
)

// reloadDebounce coalesces the events of one update: an editor's temp
// file, write and rename, or Kubernetes' four-step ..data swap.
const reloadDebounce = 100 * time.Millisecond

// WatchFiles calls Reload when one of paths changes: written, renamed
// over, or swapped by Kubernetes in a mounted ConfigMap or Secret (the
// "..data" symlink of the directory), so no SIGHUP is needed there. It
// watches the files' directories, not the files, since a rename replaces
// the inode a file watch would follow. A bad new file is refused by
// Reload (RELOAD_FAILED) and the running config stays. It returns when
// ctx is done; the error is only for a watch that cannot start.
func (s *Server) WatchFiles(ctx context.Context, paths ...string) error {
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return fmt.Errorf("watch config files: %w", err)
	}
	names, err := watchDirs(w, paths)
	if err != nil {
		w.Close()
		return err
	}
	go s.reloadOnChange(ctx, w, names)
	return nil
}

// watchDirs adds the directory of each of paths to w and returns the
// paths, cleaned.
func watchDirs(w *fsnotify.Watcher, paths []string) (map[string]bool, error) {
	names := map[string]bool{}
	dirs := map[string]bool{}
	for _, p := range paths {
		if p == "" {
			continue
		}
		p = filepath.Clean(p)
		names[p] = true
		d := filepath.Dir(p)
		if dirs[d] {
			continue
		}
		if err := w.Add(d); err != nil {
			return nil, fmt.Errorf("watch %s: %w", d, err)
		}
		dirs[d] = true
	}
	return names, nil
}

// reloadOnChange calls Reload once the events of a change to one of names
// (or of a Kubernetes "..data" swap) have settled, until ctx is done; it
// closes w.
func (s *Server) reloadOnChange(ctx context.Context, w *fsnotify.Watcher, names map[string]bool) {
	defer w.Close()
	debounce := time.NewTimer(time.Hour)
	debounce.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case ev, ok := <-w.Events:
			if !ok {
				return
			}
			if names[filepath.Clean(ev.Name)] || filepath.Base(ev.Name) == "..data" {
				debounce.Reset(reloadDebounce)
			}
		case <-w.Errors:
			// A dropped event: reload anyway, it is cheap.
			debounce.Reset(reloadDebounce)
		case <-debounce.C:
			_ = s.Reload() // logged: RELOADED or RELOAD_FAILED
		}
	}
}
