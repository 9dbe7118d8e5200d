//go:build crashtest

package crash

import (
	"io"
	"os"
	"syscall"
)

// step is the step boundary at which to crash, from EXCHANGED_CRASH_AT.
var step = os.Getenv("EXCHANGED_CRASH_AT")

// At kills the process with SIGKILL when EXCHANGED_CRASH_AT names s, and
// never returns then.
func At(s string) {
	if step != "" && step == s {
		_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
		select {} // the signal is on its way
	}
}

// Reader returns r, which yields size bytes, so that reading past half of
// them kills the process when EXCHANGED_CRASH_AT names s: an upload cut
// short, leaving a partial file at the destination.
func Reader(s string, r io.Reader, size int64) io.Reader {
	if step != s {
		return r
	}
	return &halfReader{r: r, left: size / 2, step: s}
}

type halfReader struct {
	r    io.Reader
	left int64
	step string
}

func (h *halfReader) Read(p []byte) (int, error) {
	if h.left <= 0 {
		At(h.step)
	}
	if int64(len(p)) > h.left && h.left > 0 {
		p = p[:h.left]
	}
	n, err := h.r.Read(p)
	h.left -= int64(n)
	return n, err
}
