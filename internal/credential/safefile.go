package credential

import (
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// The file-safety rules every writer of a secret file follows (rotate,
// and check --fix for a page): another local user may plant files and
// links in a shared directory, and root may be the one writing.
//
//   - A symlink is followed only when it sits in a directory no one else
//     can write (ResolveLink); otherwise ErrPlantedLink, unless forced.
//   - The file is read and replaced through a handle on its directory
//     (os.Root): the last component is never followed, and a file swapped
//     for a link between the check and the open is detected.
//   - The replacement keeps the owner, group and mode of the file it
//     replaces (Attrs, set on the temporary file before the rename); when
//     that is impossible (not root, someone else's file) nothing is
//     written (ErrOwner). A new secret file is 0600, owned by the writer.

var (
	// ErrPlantedLink means a symlink, or a file owned by another user,
	// that sits in a directory others can write (1777 /tmp, a group- or
	// world-writable directory, one owned by another user): anyone who
	// can write there could have planted it, pointing at /etc/shadow.
	// Set Force to write through it anyway.
	ErrPlantedLink = errors.New("refusing a file others could have planted")
	// ErrOwner means the file's owner, group or mode cannot be kept (not
	// running as root, and the file belongs to another user or group).
	ErrOwner = errors.New("cannot keep the file's owner and mode")
	// ErrNotToken means the current file holds something that is not a
	// token (a config file given as --to by mistake). Set Force to
	// overwrite it anyway.
	ErrNotToken = errors.New("refusing to overwrite a file that holds no token")
	// ErrChanged means the file changed (or was swapped for a link) while
	// it was being replaced; the other writer wins.
	ErrChanged = errors.New("the file changed while it was being replaced")
)

// Attrs are the owner, group and mode a replaced file keeps.
type Attrs struct {
	// Mode is the permission bits (0o777).
	Mode fs.FileMode
	// UID and GID are kept when Owned; a new file is owned by the writer.
	UID, GID int
	Owned    bool
}

// ResolveLink returns the file to write for path: path itself, or, when
// path is a symlink (/etc/podium/token -> /srv/secrets/podium_token), the
// file it leads to, so that the link stays and the file the agent reads
// is the one replaced. A link that sits in a directory others can write
// is refused with ErrPlantedLink unless force, as sudo and OpenSSH refuse
// such paths: whoever planted it chose what root overwrites.
func ResolveLink(path string, force bool) (target string, link bool, err error) {
	// One hop at a time, so that every link of a chain is judged where it
	// sits, then EvalSymlinks for the directories above the last one.
	p := path
	for hops := 0; ; hops++ {
		fi, err := os.Lstat(p)
		if err != nil || fi.Mode()&fs.ModeSymlink == 0 {
			break // a missing file is created; other errors show at the read
		}
		if hops == 40 {
			return path, true, fmt.Errorf("%s: too many levels of symlinks", path)
		}
		link = true
		if p, err = followLink(p, fi, force); err != nil {
			return path, true, err
		}
	}
	if !link {
		return path, false, nil
	}
	target, err = filepath.EvalSymlinks(p)
	if err != nil {
		return path, true, fmt.Errorf("%s is a symlink that leads nowhere: %w", path, err)
	}
	return target, true, nil
}

// followLink returns where the symlink p (whose Lstat is fi) points, made
// absolute, after refusing it with ErrPlantedLink, unless force, when
// others could have planted it.
func followLink(p string, fi fs.FileInfo, force bool) (string, error) {
	if !force {
		if why := plantable(filepath.Dir(p), fi); why != "" {
			return "", fmt.Errorf("%w: %s is a symlink and %s (give the path it leads to, or --force)", ErrPlantedLink, p, why)
		}
	}
	dest, err := os.Readlink(p)
	if err != nil {
		return "", fmt.Errorf("read the symlink %s: %w", p, err)
	}
	if !filepath.IsAbs(dest) {
		dest = filepath.Join(filepath.Dir(p), dest)
	}
	return dest, nil
}

// plantable says why someone other than the writer could have put fi (a
// link or a file) in dir, or "" when no one could. Root (uid 0) counts as
// the writer's own.
//
//   - A link is plantable in a directory that is group- or
//     world-writable, or owned by another user (OpenSSH's rule for the
//     directories above a key file).
//   - A regular file is plantable when another user owns it in a
//     world-writable directory (/tmp): keeping its owner would hand the
//     new token to whoever created it. An agent's own directory (owned by
//     the agent's user, not world-writable) is fine.
func plantable(dir string, fi fs.FileInfo) string {
	di, err := os.Stat(dir)
	if err != nil {
		return "its directory cannot be read: " + err.Error()
	}
	me := os.Geteuid()
	dirUID, _, dirOwned := ownerOf(di)
	perm := di.Mode().Perm()
	if fi.Mode()&fs.ModeSymlink != 0 {
		switch {
		case dirOwned && dirUID != 0 && dirUID != me:
			return fmt.Sprintf("its directory %s belongs to uid %d", dir, dirUID)
		case perm&0o022 != 0:
			return fmt.Sprintf("its directory %s can be written by others (mode %s)", dir, octal(di.Mode()))
		}
		return ""
	}
	if uid, _, ok := ownerOf(fi); ok && perm&0o002 != 0 && uid != 0 && uid != me && uid != dirUID {
		return fmt.Sprintf("it belongs to uid %d in %s, which anyone can write (mode %s)", uid, dir, octal(di.Mode()))
	}
	return ""
}

// octal writes a mode as chmod takes it: 0755, 01777.
func octal(m fs.FileMode) string {
	n := uint32(m.Perm())
	if m&fs.ModeSticky != 0 {
		n |= 0o1000
	}
	return fmt.Sprintf("%#o", n)
}

// CheckPlanted returns ErrPlantedLink when path is a file or link that
// another user could have planted (see ResolveLink); nil when path does
// not exist.
func CheckPlanted(path string) error {
	fi, err := os.Lstat(path)
	if err != nil {
		return nil
	}
	if why := plantable(filepath.Dir(path), fi); why != "" {
		return fmt.Errorf("%w: %s: %s (move it to a directory only its owner can write, or --force)", ErrPlantedLink, path, why)
	}
	return nil
}

// Current is a file as read for replacing it.
type Current struct {
	// Data is its content; nil when it does not exist.
	Data []byte
	// Exists is false when there was no file; Attrs are then those of a
	// new secret file: FileMode (0600), owned by the writer.
	Exists bool
	// Attrs are what the replacement keeps.
	Attrs Attrs
}

// ReadCurrent reads path (at most limit bytes) without following a link
// at its last component, and returns its content and the attributes a
// replacement must keep. A missing file is not an error: Exists is false
// and Attrs are a new secret file's (FileMode, owned by the writer). A symlink (call ResolveLink first), a
// directory, a FIFO or a device is refused.
func ReadCurrent(path string, limit int64) (Current, error) {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return Current{}, err
	}
	defer root.Close()
	return readIn(root, base, limit)
}

func readIn(root *os.Root, base string, limit int64) (Current, error) {
	lfi, err := root.Lstat(base)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return Current{Attrs: Attrs{Mode: FileMode}}, nil
	case err != nil:
		return Current{}, err
	case lfi.Mode()&fs.ModeSymlink != 0:
		return Current{}, fmt.Errorf("%w: %s became a symlink", ErrChanged, base)
	case !lfi.Mode().IsRegular():
		return Current{}, fmt.Errorf("%w: %s", ErrNotRegular, base)
	}
	f, err := root.Open(base)
	if err != nil {
		return Current{}, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return Current{}, err
	}
	// Lstat and open are two steps: a link or another file swapped in
	// between would be a different file.
	if !os.SameFile(lfi, fi) {
		return Current{}, fmt.Errorf("%w: %s was replaced while it was opened", ErrChanged, base)
	}
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return Current{}, err
	}
	if int64(len(data)) > limit {
		return Current{}, fmt.Errorf("%s is larger than %d bytes", base, limit)
	}
	a := Attrs{Mode: fi.Mode().Perm()}
	a.UID, a.GID, a.Owned = ownerOf(fi)
	return Current{Data: data, Exists: true, Attrs: a}, nil
}

// CanKeep returns ErrOwner, saying what to do, when the writer cannot give
// a new file the owner and group in a: only root can give a file away; a
// user can keep their own uid and a group they belong to.
func CanKeep(path string, a Attrs) error {
	if !a.Owned {
		return nil
	}
	if err := canChown(a.UID, a.GID); err != nil {
		return fmt.Errorf("%w: %s is owned by %d:%d and %v; run as root or as its owner, nothing was written", ErrOwner, path, a.UID, a.GID, err)
	}
	return nil
}

// ReplaceOptions configure ReplaceFile.
type ReplaceOptions struct {
	// Attrs are the new file's owner, group and mode: the old file's
	// (Current.Attrs), or a new one's.
	Attrs Attrs
	// Expect, when not nil: path must still hold exactly this just
	// before the rename, else ErrChanged and nothing is replaced.
	Expect []byte

	// step, when set (by tests), is called after each durable step and
	// may fail it.
	step func(string) error
}

// ReplaceFile replaces path with data atomically, keeping o.Attrs: a
// temporary file is created in the same directory (so the rename cannot
// cross file systems) with O_EXCL, given the owner, group and mode before
// any byte is written, written, fsynced and renamed over path, then the
// directory is fsynced so the rename itself survives a power cut. Every
// step goes through a handle on the directory, so a link planted at path
// is replaced, never followed. Readers see the old content or the new,
// never a mix; a crash leaves at most a stray temporary file.
func ReplaceFile(path string, data []byte, o ReplaceOptions) error {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return fmt.Errorf("open directory: %w", err)
	}
	defer root.Close()
	return replaceIn(root, base, data, o)
}

func replaceIn(root *os.Root, base string, data []byte, o ReplaceOptions) error {
	f, tmp, err := createTemp(root, base)
	if err != nil {
		return fmt.Errorf("create temporary file: %w", err)
	}
	renamed := false
	defer func() {
		if !renamed {
			f.Close()
			root.Remove(tmp)
		}
	}()
	if err := writeTemp(f, data, o); err != nil {
		return err
	}
	if o.Expect != nil {
		cur, err := readIn(root, base, int64(len(o.Expect)))
		if err != nil || !bytes.Equal(cur.Data, o.Expect) {
			return fmt.Errorf("%w; not overwriting it", ErrChanged)
		}
	}
	if err := root.Rename(tmp, base); err != nil {
		return fmt.Errorf("rename into place: %w", err)
	}
	renamed = true
	if err := hook(o.step, "renamed"); err != nil {
		return err
	}
	return syncDir(root)
}

// createTemp creates a new temporary file for base in root, mode 0600,
// with O_EXCL under a random name (a few tries if the name is taken).
func createTemp(root *os.Root, base string) (f *os.File, name string, err error) {
	for range 10 {
		name = tempPrefix(base) + rand.Text()[:12]
		f, err = root.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
		if !errors.Is(err, fs.ErrExist) {
			break
		}
	}
	return f, name, err
}

// writeTemp gives the temporary file f the owner and mode of o.Attrs,
// then writes data, fsyncs and closes it.
func writeTemp(f *os.File, data []byte, o ReplaceOptions) error {
	// Owner and mode before any byte is written: the 0600 of O_CREATE
	// hides the content until then, and a failure leaves nothing behind.
	if o.Attrs.Owned {
		if err := f.Chown(o.Attrs.UID, o.Attrs.GID); err != nil {
			return fmt.Errorf("%w: chown temporary file: %w", ErrOwner, err)
		}
	}
	if err := f.Chmod(o.Attrs.Mode.Perm()); err != nil {
		return fmt.Errorf("chmod temporary file: %w", err)
	}
	if err := hook(o.step, "temp-created"); err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		return fmt.Errorf("write temporary file: %w", err)
	}
	if err := hook(o.step, "temp-written"); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("fsync temporary file: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("close temporary file: %w", err)
	}
	return hook(o.step, "temp-synced")
}

// syncDir fsyncs the directory root, so that a rename in it survives a
// power cut.
func syncDir(root *os.Root) error {
	d, err := root.Open(".")
	if err != nil {
		return fmt.Errorf("fsync directory: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("fsync directory: %w", err)
	}
	return nil
}
