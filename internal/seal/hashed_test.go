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

// limitedWriter takes n bytes, then fails.
type limitedWriter struct {
	bytes.Buffer
	n int
}

var errFull = errors.New("full")

func (l *limitedWriter) Write(p []byte) (int, error) {
	if len(p) > l.n {
		m, _ := l.Buffer.Write(p[:l.n])
		l.n = 0
		return m, errFull
	}
	l.n -= len(p)
	return l.Buffer.Write(p)
}

// TestReaderWriteTo: WriteTo writes what Read returns, from the start or
// an offset; where a package fails authentication it writes every byte
// before it and returns ErrAuth, and so does every later Read; a writer
// that fails stops it with its error, and reading goes on from the last
// byte written.
func TestReaderWriteTo(t *testing.T) {
	k := newKey(t)
	base := runtime.NumGoroutine()
	data := make([]byte, 6*chunkSize+100)
	rand.Read(data)
	p := sealChunks(t, k, data, 32<<10)
	r, err := open(t, k, p)
	if err != nil {
		t.Fatal(err)
	}
	for _, off := range []int64{0, chunkSize + 3, int64(len(data))} {
		r.Seek(off, io.SeekStart)
		var got bytes.Buffer
		if n, err := r.WriteTo(&got); err != nil || n != int64(len(data))-off || !bytes.Equal(got.Bytes(), data[off:]) {
			t.Fatalf("WriteTo from %d: %d bytes, %v", off, n, err)
		}
	}
	if !r.Verified() {
		t.Fatal("read whole by WriteTo, not Verified")
	}
	r.Seek(0, io.SeekStart)
	lw := &limitedWriter{n: chunkSize + 10}
	if n, err := r.WriteTo(lw); n != chunkSize+10 || err != errFull {
		t.Fatalf("WriteTo a failing writer: %d, %v; want %d, its error", n, err, chunkSize+10)
	}
	rest, err := io.ReadAll(r)
	if err != nil || !bytes.Equal(append(lw.Bytes(), rest...), data) {
		t.Fatalf("read on after the failed write: %d bytes, %v", len(rest), err)
	}
	r.Close()

	orig, _ := os.ReadFile(p)
	for _, bad := range []int{0, 13} {
		b := append([]byte{}, orig...)
		b[headerSize+bad*packageSize+100] ^= 1
		os.WriteFile(p, b, 0o600)
		r, err := open(t, k, p)
		if err != nil {
			t.Fatal(err)
		}
		var got bytes.Buffer
		n, err := r.WriteTo(&got)
		if !errors.Is(err, ErrAuth) || n != int64(bad*payloadSize) || !bytes.Equal(got.Bytes(), data[:n]) {
			t.Fatalf("package %d flipped: wrote %d bytes, %v; want %d bytes then ErrAuth", bad, n, err, bad*payloadSize)
		}
		if n, err := r.Read(make([]byte, 10)); n != 0 || !errors.Is(err, ErrAuth) {
			t.Fatalf("package %d flipped: Read after the failure: %d, %v", bad, n, err)
		}
		r.Close()
	}
	goroutinesBack(t, base)
}
