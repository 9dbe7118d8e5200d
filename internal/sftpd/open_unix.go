//go:build unix

package sftpd

import (
	"os"
	"path"

	"golang.org/x/sys/unix"
)

// openNoFollow opens name under root without following a symlink in its last element
// (O_NOFOLLOW makes that fail with ELOOP). Directories above it are resolved by os.Root,
// which keeps them inside root.
func openNoFollow(root *os.Root, name string, flag int, perm os.FileMode) (*os.File, error) {
	dir, base := path.Split(name)
	if dir == "" {
		dir = "."
	}
	d, err := root.Open(dir)
	if err != nil {
		return nil, err
	}
	defer d.Close()
	rc, err := d.SyscallConn()
	if err != nil {
		return nil, err
	}
	fd := -1
	var oerr error
	cerr := rc.Control(func(dirfd uintptr) {
		for range 8 { // retry EINTR, a bounded number of times
			fd, oerr = unix.Openat(int(dirfd), base, flag|unix.O_NOFOLLOW|unix.O_CLOEXEC, uint32(perm.Perm()))
			if oerr != unix.EINTR {
				return
			}
		}
	})
	if cerr != nil {
		return nil, cerr
	}
	if oerr != nil {
		return nil, &os.PathError{Op: "open", Path: name, Err: oerr}
	}
	return os.NewFile(uintptr(fd), name), nil
}
