//go:build !crashtest

package crash

import "io"

// At does nothing: this build has no crash points (see the crashtest tag).
func At(string) {}

// Reader returns r: this build has no crash points.
func Reader(_ string, r io.Reader, _ int64) io.Reader { return r }
