// Package writeback starts the write-back of a file's pages to disk while
// the file is still being written, so that the fsync that ends the write
// has little left to wait for: the disk works while the writer does,
// instead of after it.
package writeback

import (
	"os"
)

// Every is how many bytes are written between two starts of write-back:
// large enough that the requests are large, small enough that the fsync
// at the end finds at most this much (and what the disk has not finished)
// still to write.
const Every = 8 << 20

// Writer writes to a file and, every Every bytes, asks the kernel to
// start writing what was written since the last time to disk (on Linux
// sync_file_range(2) with SYNC_FILE_RANGE_WRITE: it starts the write-out
// and returns; it promises nothing, the caller's fsync still does).
// Elsewhere it only writes.
type Writer struct {
	f     *os.File
	off   int64 // bytes written through w
	start int64 // where the next write-back begins
}

// New returns a Writer onto f, which it writes from f's current offset;
// offsets it hands to the kernel count from there, which is exact for a
// file written from its start (every caller's).
func New(f *os.File) *Writer { return &Writer{f: f} }

func (w *Writer) Write(p []byte) (int, error) {
	n, err := w.f.Write(p)
	w.off += int64(n)
	if w.off-w.start >= Every {
		start(w.f, w.start, w.off-w.start)
		w.start = w.off
	}
	return n, err
}
