package seal

import (
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"syscall"
	"testing"
	"time"
)

// sealChunks seals data into a new file, written w bytes at a time, and
// returns its path.
func sealChunks(t *testing.T, k *Key, data []byte, w int) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "sealed")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sw, err := k.Seal(f)
	if err != nil {
		t.Fatal(err)
	}
	for rest := data; len(rest) > 0; {
		n, err := sw.Write(rest[:min(w, len(rest))])
		if err != nil {
			t.Fatal(err)
		}
		rest = rest[n:]
	}
	if err := sw.Close(); err != nil {
		t.Fatal(err)
	}
	return p
}

// goroutinesBack fails unless the number of goroutines comes back to at
// most n within two seconds.
func goroutinesBack(t *testing.T, n int) {
	t.Helper()
	for range 200 {
		if runtime.NumGoroutine() <= n {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("%d goroutines, want at most %d: a sealing or reading goroutine is left", runtime.NumGoroutine(), n)
}

// TestPipelinedRoundTrip: files around and over a chunk, written in
// pieces of several sizes (sealed on the writer's goroutine once over a
// chunk), read back whole, in small reads and from offsets (decrypted
// ahead), are the plaintext.
func TestPipelinedRoundTrip(t *testing.T) {
	k := newKey(t)
	base := runtime.NumGoroutine()
	for _, size := range []int{0, 1, chunkSize - 1, chunkSize, chunkSize + 1, 3*chunkSize + payloadSize + 7, 9*chunkSize + 5} {
		data := make([]byte, size)
		rand.Read(data)
		for _, w := range []int{1000, 32 << 10, 1 << 20} {
			t.Run(fmt.Sprintf("%d-by-%d", size, w), func(t *testing.T) {
				r, err := open(t, k, sealChunks(t, k, data, w))
				if err != nil {
					t.Fatal(err)
				}
				if r.Size() != int64(size) {
					t.Fatalf("size %d, want %d", r.Size(), size)
				}
				got, err := io.ReadAll(struct{ io.Reader }{r}) // 512-byte reads at first
				if err != nil || !bytes.Equal(got, data) {
					t.Fatalf("read %d of %d bytes: %v", len(got), size, err)
				}
				for _, off := range []int64{int64(size) / 2, 0, chunkSize + 3, int64(size)} {
					if off > int64(size) {
						continue
					}
					r.Seek(off, io.SeekStart)
					buf := make([]byte, 7000)
					var got []byte
					for range 2*(size/len(buf)) + 3 { // a read may end at a chunk
						n, err := r.Read(buf)
						got = append(got, buf[:n]...)
						if err == io.EOF {
							break
						} else if err != nil {
							t.Fatalf("from %d: %v", off, err)
						}
					}
					if !bytes.Equal(got, data[off:]) {
						t.Fatalf("from %d: read %d bytes, want %d", off, len(got), int64(size)-off)
					}
				}
				if !r.Verified() {
					t.Fatal("not verified after reading it whole")
				}
			})
		}
	}
	goroutinesBack(t, base)
}

// TestReadAheadStopsAtFailedPackage: in a file of many chunks, a flipped
// byte in one package is found by a reader decrypting ahead as by one
// that does not: every byte before that package is returned, none of it
// or after it, then ErrAuth, and again on every later Read.
func TestReadAheadStopsAtFailedPackage(t *testing.T) {
	k := newKey(t)
	data := make([]byte, 6*chunkSize+100)
	rand.Read(data)
	p := sealChunks(t, k, data, 32<<10)
	orig, _ := os.ReadFile(p)
	for _, bad := range []int{0, 5, 13, 21} {
		b := append([]byte{}, orig...)
		b[headerSize+bad*packageSize+100] ^= 1
		os.WriteFile(p, b, 0o600)
		r, err := open(t, k, p)
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(r)
		if !errors.Is(err, ErrAuth) || len(got) != bad*payloadSize || !bytes.Equal(got, data[:len(got)]) {
			t.Fatalf("package %d flipped: read %d bytes, %v; want %d bytes then ErrAuth", bad, len(got), err, bad*payloadSize)
		}
		if n, err := r.Read(make([]byte, 10)); n != 0 || !errors.Is(err, ErrAuth) {
			t.Fatalf("package %d flipped: Read after the failure: %d, %v", bad, n, err)
		}
		r.Seek(0, io.SeekStart)
		if err := r.Verify(); !errors.Is(err, ErrAuth) {
			t.Fatalf("package %d flipped: Verify %v", bad, err)
		}
	}
}

// TestReaderClosedUnderRead: Close while reading ahead ends the read and
// the goroutine; no later Read returns data.
func TestReaderClosedUnderRead(t *testing.T) {
	k := newKey(t)
	data := make([]byte, 8*chunkSize)
	rand.Read(data)
	p := sealChunks(t, k, data, 1<<20)
	base := runtime.NumGoroutine()
	r, err := open(t, k, p)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 32<<10)
	if n, err := r.Read(buf); n != len(buf) || err != nil {
		t.Fatalf("first read: %d, %v", n, err)
	}
	r.Close()
	var read int
	for range len(data) / len(buf) {
		n, err := r.Read(buf)
		read += n
		if err != nil {
			break
		}
	}
	if read >= len(data)-len(buf) {
		t.Fatalf("read %d bytes after Close, the file whole", read)
	}
	if _, err := r.Read(buf); err == nil {
		t.Fatal("Read after Close and the end of what was decrypted: no error")
	}
	goroutinesBack(t, base)
}

// failingFile accepts n bytes, then fails with ENOSPC, as a full disk.
type failingFile struct{ n int }

func (f *failingFile) Write(p []byte) (int, error) {
	if len(p) > f.n {
		m := f.n
		f.n = 0
		return m, &os.PathError{Op: "write", Path: "staged", Err: syscall.ENOSPC}
	}
	f.n -= len(p)
	return len(p), nil
}

// TestWriterFailureReported: a destination that fails under the sealing
// goroutine fails a later Write or Close with its error (a full disk
// stays ENOSPC), and the goroutine ends.
func TestWriterFailureReported(t *testing.T) {
	k := newKey(t)
	base := runtime.NumGoroutine()
	for _, after := range []int{0, 100, chunkSize, 3 * chunkSize} {
		w, err := k.Seal(&failingFile{n: headerSize + after})
		if err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 32<<10)
		var werr error
		for range 64 { // 2 MiB: more than the chunks in flight
			if _, werr = w.Write(buf); werr != nil {
				break
			}
		}
		cerr := w.Close()
		if !errors.Is(werr, syscall.ENOSPC) && !errors.Is(cerr, syscall.ENOSPC) {
			t.Fatalf("fails after %d bytes: Write %v, Close %v; want ENOSPC", after, werr, cerr)
		}
		if werr != nil && cerr == nil {
			t.Fatalf("fails after %d bytes: Write %v, then Close succeeded", after, werr)
		}
	}
	goroutinesBack(t, base)
}

// TestWriterAbort: Abort ends the sealing goroutine of a writer given up
// on; Write and Close then fail.
func TestWriterAbort(t *testing.T) {
	k := newKey(t)
	base := runtime.NumGoroutine()
	for _, size := range []int{100, 3 * chunkSize} {
		var dst bytes.Buffer
		w, err := k.Seal(&dst)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write(make([]byte, size)); err != nil {
			t.Fatal(err)
		}
		w.Abort()
		w.Abort()
		if _, err := w.Write(make([]byte, 10)); !errors.Is(err, ErrAborted) {
			t.Fatalf("%d bytes: Write after Abort: %v", size, err)
		}
		if err := w.Close(); !errors.Is(err, ErrAborted) {
			t.Fatalf("%d bytes: Close after Abort: %v", size, err)
		}
	}
	goroutinesBack(t, base)
}
