package exchange

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

// LockStateDir takes an exclusive lock (flock) on dir/lock for the life of
// the process, so that "exchanged once" cannot run beside a daemon on the
// same state_dir. The lock is released by unlock, or when the process
// ends, even by SIGKILL.
func LockStateDir(dir string) (unlock func() error, err error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("state_dir: %w", err)
	}
	f, err := os.OpenFile(filepath.Join(dir, "lock"), os.O_RDWR|os.O_CREATE|syscall.O_NOFOLLOW, 0o600)
	if err != nil {
		return nil, fmt.Errorf("state_dir: %w", diskError(err))
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("%w: %s", ErrStateDirInUse, dir)
		}
		return nil, fmt.Errorf("state_dir: lock: %w", err)
	}
	return f.Close, nil
}
