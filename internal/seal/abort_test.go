package seal

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"
)

// gatedReader gives n bytes of data, then blocks its next Read until gate
// is closed (telling blocked first), then gives the rest.
type gatedReader struct {
	r       io.Reader
	n       int
	blocked chan struct{}
	gate    chan struct{}
	once    sync.Once
}

func (g *gatedReader) Read(p []byte) (int, error) {
	if g.n == 0 {
		g.once.Do(func() { close(g.blocked) })
		<-g.gate
		return g.r.Read(p)
	}
	m, err := g.r.Read(p[:min(len(p), g.n)])
	g.n -= m
	return m, err
}

// TestAbortUnderReadFrom: Abort from another goroutine while
// ReadFrom waits in its reader mid-chunk (the sealing and hashing
// goroutines running, chunks in flight) makes ReadFrom and Close return
// ErrAborted, and both goroutines end.
func TestAbortUnderReadFrom(t *testing.T) {
	k := newKey(t)
	base := runtime.NumGoroutine()
	data := make([]byte, 6*chunkSize)
	rand.Read(data)
	for _, at := range []int{chunkSize + 1, 3*chunkSize + 4097, 5 * chunkSize} {
		w, err := k.SealHashed(io.Discard, sha256.New())
		if err != nil {
			t.Fatal(err)
		}
		g := &gatedReader{r: bytes.NewReader(data), n: at, blocked: make(chan struct{}), gate: make(chan struct{})}
		res := make(chan error, 1)
		go func() { _, err := w.ReadFrom(g); res <- err }()
		select {
		case <-g.blocked:
		case <-time.After(10 * time.Second):
			t.Fatal("the reader was never read past its gate")
		}
		w.Abort()
		close(g.gate)
		select {
		case err := <-res:
			if !errors.Is(err, ErrAborted) {
				t.Fatalf("at %d: ReadFrom after Abort: %v, want ErrAborted", at, err)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("at %d: ReadFrom did not return after Abort", at)
		}
		if err := w.Close(); !errors.Is(err, ErrAborted) {
			t.Fatalf("at %d: Close after Abort: %v", at, err)
		}
	}
	goroutinesBack(t, base)
}

// TestCloseRacingAbort: Abort racing Close may go either way, but a
// Close that returns nil has sealed a whole file whose hash is the
// plaintext's; the goroutines end either way.
func TestCloseRacingAbort(t *testing.T) {
	k := newKey(t)
	base := runtime.NumGoroutine()
	data := make([]byte, 2*chunkSize+5)
	rand.Read(data)
	want := sha256.Sum256(data)
	for i := range 50 {
		p := filepath.Join(t.TempDir(), "sealed")
		f, err := os.Create(p)
		if err != nil {
			t.Fatal(err)
		}
		h := sha256.New()
		w, err := k.SealHashed(f, h)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.ReadFrom(bytes.NewReader(data)); err != nil {
			t.Fatal(err)
		}
		go w.Abort()
		cerr := w.Close()
		f.Close()
		if cerr != nil {
			if !errors.Is(cerr, ErrAborted) {
				t.Fatalf("%d: Close: %v", i, cerr)
			}
			continue
		}
		if !bytes.Equal(h.Sum(nil), want[:]) {
			t.Fatalf("%d: Close returned nil with another hash", i)
		}
		r, err := open(t, k, p)
		if err != nil {
			t.Fatalf("%d: Close returned nil, the file does not open: %v", i, err)
		}
		if got, err := io.ReadAll(r); err != nil || !bytes.Equal(got, data) {
			t.Fatalf("%d: Close returned nil, read back %d of %d bytes: %v", i, len(got), len(data), err)
		}
	}
	goroutinesBack(t, base)
}
