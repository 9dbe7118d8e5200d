package writeback

import (
	"os"

	"golang.org/x/sys/unix"
)

// start starts the write-out of n bytes of f from off. A failure is no
// failure of the write: the fsync after it writes what this did not.
func start(f *os.File, off, n int64) {
	rc, err := f.SyscallConn()
	if err != nil {
		return
	}
	rc.Control(func(fd uintptr) {
		_ = unix.SyncFileRange(int(fd), off, n, unix.SYNC_FILE_RANGE_WRITE)
	})
}
