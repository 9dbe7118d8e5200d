package seal

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"syscall"
	"testing"
)

// shortReads returns at most n bytes a Read, as a pipe or socket may.
type shortReads struct {
	r io.Reader
	n int
}

func (s *shortReads) Read(p []byte) (int, error) { return s.r.Read(p[:min(len(p), s.n)]) }

// TestSealHashed: written by Write (in pieces) or by ReadFrom (from
// readers giving short reads or whole ones), a file around and over a
// chunk opens to the plaintext, and the hash given to SealHashed is the
// plaintext's, trailer excluded; no goroutine is left.
func TestSealHashed(t *testing.T) {
	k := newKey(t)
	base := runtime.NumGoroutine()
	for _, size := range []int{0, 1, payloadSize + 1, chunkSize - 1, chunkSize, chunkSize + 1, 3*chunkSize + payloadSize + 7} {
		data := make([]byte, size)
		rand.Read(data)
		want := sha256.Sum256(data)
		for _, how := range []string{"write-1000", "write-1MiB", "readfrom-7000", "readfrom-whole"} {
			t.Run(fmt.Sprintf("%d-%s", size, how), func(t *testing.T) {
				p := filepath.Join(t.TempDir(), "sealed")
				f, err := os.Create(p)
				if err != nil {
					t.Fatal(err)
				}
				defer f.Close()
				h := sha256.New()
				w, err := k.SealHashed(f, h)
				if err != nil {
					t.Fatal(err)
				}
				var n int64
				switch how {
				case "write-1000", "write-1MiB":
					piece := map[string]int{"write-1000": 1000, "write-1MiB": 1 << 20}[how]
					for rest := data; len(rest) > 0; {
						m, err := w.Write(rest[:min(piece, len(rest))])
						if err != nil {
							t.Fatal(err)
						}
						rest, n = rest[m:], n+int64(m)
					}
				case "readfrom-7000":
					n, err = w.ReadFrom(&shortReads{bytes.NewReader(data), 7000})
				default:
					n, err = w.ReadFrom(bytes.NewReader(data))
				}
				if err != nil || n != int64(size) {
					t.Fatalf("wrote %d of %d bytes: %v", n, size, err)
				}
				if err := w.Close(); err != nil {
					t.Fatal(err)
				}
				if got := h.Sum(nil); !bytes.Equal(got, want[:]) {
					t.Fatalf("hash %x, want the plaintext's %x", got, want)
				}
				r, err := open(t, k, p)
				if err != nil {
					t.Fatal(err)
				}
				got, err := io.ReadAll(r)
				if err != nil || !bytes.Equal(got, data) {
					t.Fatalf("read back %d of %d bytes: %v", len(got), size, err)
				}
			})
		}
	}
	goroutinesBack(t, base)
}

// failingReader returns n bytes, then err.
type failingReader struct {
	n   int
	err error
}

func (f *failingReader) Read(p []byte) (int, error) {
	if f.n == 0 {
		return 0, f.err
	}
	m := min(len(p), f.n)
	f.n -= m
	return m, nil
}

// TestSealHashedFailures: with a hash, a destination that fails still
// fails a later Write or Close with its error, ReadFrom returns its
// reader's error as it came, and Abort ends both goroutines.
func TestSealHashedFailures(t *testing.T) {
	k := newKey(t)
	base := runtime.NumGoroutine()
	for _, after := range []int{0, 100, chunkSize, 3 * chunkSize} {
		w, err := k.SealHashed(&failingFile{n: headerSize + after}, sha256.New())
		if err != nil {
			t.Fatal(err)
		}
		_, werr := w.ReadFrom(&failingReader{n: 2 << 20, err: io.EOF})
		cerr := w.Close()
		if !errors.Is(werr, syscall.ENOSPC) && !errors.Is(cerr, syscall.ENOSPC) {
			t.Fatalf("fails after %d bytes: ReadFrom %v, Close %v; want ENOSPC", after, werr, cerr)
		}
		if werr != nil && cerr == nil {
			t.Fatalf("fails after %d bytes: ReadFrom %v, then Close succeeded", after, werr)
		}
	}
	cut := errors.New("connection lost")
	var dst bytes.Buffer
	w, err := k.SealHashed(&dst, sha256.New())
	if err != nil {
		t.Fatal(err)
	}
	if n, err := w.ReadFrom(&failingReader{n: 3*chunkSize + 5, err: cut}); n != 3*chunkSize+5 || err != cut {
		t.Fatalf("ReadFrom of a failing reader: %d, %v; want %d, its error", n, err, 3*chunkSize+5)
	}
	w.Abort()
	if err := w.Close(); !errors.Is(err, ErrAborted) {
		t.Fatalf("Close after Abort: %v", err)
	}
	goroutinesBack(t, base)
}
