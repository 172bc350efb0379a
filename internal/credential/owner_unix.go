//go:build unix

package credential

import (
	"fmt"
	"io/fs"
	"os"
	"slices"
	"syscall"
)

// ownerOf returns the uid and gid of fi.
func ownerOf(fi fs.FileInfo) (uid, gid int, ok bool) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return 0, 0, false
	}
	return int(st.Uid), int(st.Gid), true
}

// canChown says why this process cannot create a file owned by uid:gid,
// nil when it can: root can, others only for their own uid and a group
// they are in.
func canChown(uid, gid int) error {
	me := os.Geteuid()
	if me == 0 {
		return nil
	}
	if uid != me {
		return fmt.Errorf("this process runs as uid %d", me)
	}
	if gid == os.Getegid() {
		return nil
	}
	if groups, err := os.Getgroups(); err == nil && slices.Contains(groups, gid) {
		return nil
	}
	return fmt.Errorf("this process (uid %d) is not in group %d", me, gid)
}
