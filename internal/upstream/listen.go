package upstream

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"voicetoken/internal/hostlist"
)

// SocketMode is the mode of the proxy's Unix socket: the owner and the
// group (the agent's, with --socket-group) may connect, nobody else.
const SocketMode fs.FileMode = 0o660

// Listen opens the proxy's listener. addr is "unix:/path/to.sock" (the
// recommended way to share the proxy with an agent container: no
// browser can reach a Unix socket) or a loopback host:port (anyone who can
// reach the proxy acts as the agent, so nothing else is accepted). group,
// for a socket only, is the group name or ID that owns it.
//
// A stale socket left by a previous run is replaced; any other file at
// the path is an error, and so is a directory writable by others, where
// someone else could swap the socket for a link between its creation and
// its chmod.
func Listen(addr, group string) (net.Listener, error) {
	path, ok := strings.CutPrefix(addr, "unix:")
	if !ok {
		return listenLoopback(addr, group)
	}
	return listenUnix(path, group)
}

// listenLoopback listens on a loopback host:port; it refuses any other
// address, and a socket group, which only a Unix socket has.
func listenLoopback(addr, group string) (net.Listener, error) {
	if group != "" {
		return nil, errors.New("a socket group needs a unix:/path listen address")
	}
	if _, _, err := net.SplitHostPort(addr); err != nil {
		return nil, err
	}
	if !hostlist.IsLoopbackAddr(addr) {
		return nil, fmt.Errorf("%q is not a loopback address: anyone who can reach the proxy acts as the agent (use 127.0.0.1, or unix:/run/voicetoken/proxy.sock to share it with a container)", addr)
	}
	return net.Listen("tcp", addr)
}

// listenUnix listens on a Unix socket at path with SocketMode, owned by
// group when it is not "".
func listenUnix(path, group string) (net.Listener, error) {
	if !filepath.IsAbs(path) {
		return nil, fmt.Errorf("unix socket path %q: want an absolute path such as /run/voicetoken/proxy.sock", path)
	}
	gid := -1
	if group != "" {
		g, err := lookupGroup(group)
		if err != nil {
			return nil, err
		}
		gid = g
	}
	if err := checkSocketDir(filepath.Dir(path)); err != nil {
		return nil, err
	}
	if err := removeStaleSocket(path); err != nil {
		return nil, err
	}
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, err
	}
	if err := setSocketOwner(path, group, gid); err != nil {
		ln.Close()
		return nil, err
	}
	return ln, nil
}

// checkSocketDir refuses a socket directory others can write, where they
// could swap the socket for a link between its creation and its chmod.
func checkSocketDir(dir string) error {
	di, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("socket directory: %w", err)
	}
	if di.Mode().Perm()&0o002 != 0 {
		return fmt.Errorf("socket directory %s is writable by others (%v): use a directory only the proxy's user can write, such as /run/voicetoken", dir, di.Mode().Perm())
	}
	return nil
}

// setSocketOwner gives the socket at path SocketMode and, when gid is not
// -1, the group gid (named group in the error).
func setSocketOwner(path, group string, gid int) error {
	if err := os.Chmod(path, SocketMode); err != nil {
		return fmt.Errorf("socket mode: %w", err)
	}
	if gid < 0 {
		return nil
	}
	if err := os.Lchown(path, -1, gid); err != nil {
		return fmt.Errorf("socket group %s: %w (the proxy's user must belong to it)", group, err)
	}
	return nil
}

func lookupGroup(group string) (int, error) {
	if n, err := strconv.Atoi(group); err == nil && n >= 0 {
		return n, nil
	}
	g, err := user.LookupGroup(group)
	if err != nil {
		return 0, fmt.Errorf("socket group: %w", err)
	}
	return strconv.Atoi(g.Gid)
}

// removeStaleSocket removes a socket nobody listens on; a live one, or
// anything that is not a socket, is an error.
func removeStaleSocket(path string) error {
	fi, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if fi.Mode().Type() != fs.ModeSocket {
		return fmt.Errorf("%s exists and is not a socket: remove it or choose another path", path)
	}
	c, err := net.Dial("unix", path)
	if err == nil {
		c.Close()
		return fmt.Errorf("%s: another process listens on it", path)
	}
	if !errors.Is(err, syscall.ECONNREFUSED) {
		return fmt.Errorf("%s: %w", path, err)
	}
	return os.Remove(path)
}
