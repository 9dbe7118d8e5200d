//go:build !linux

package writeback

import "os"

// start does nothing here: the fsync at the end writes everything.
func start(*os.File, int64, int64) {}
