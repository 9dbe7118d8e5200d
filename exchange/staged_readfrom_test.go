package exchange

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// oddReads gives at most n bytes a Read and hides any WriteTo.
type oddReads struct {
	r io.Reader
	n int
}

func (o *oddReads) Read(p []byte) (int, error) { return o.r.Read(p[:min(len(p), o.n)]) }

// goroutinesBackTo fails unless the goroutines come back to at most n
// within two seconds.
func goroutinesBackTo(t *testing.T, n int) {
	t.Helper()
	for range 200 {
		if runtime.NumGoroutine() <= n {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("%d goroutines, want at most %d: a sealing or hashing goroutine is left", runtime.NumGoroutine(), n)
}

// TestStagedReadFromPastWriteback: a source copy of more than two
// write-back steps (8 MiB), read by ReadFrom in reads of odd sizes that
// never meet a chunk boundary, commits with the plaintext's size and
// sha256 and reads back whole.
func TestStagedReadFromPastWriteback(t *testing.T) {
	s, err := OpenStaging(filepath.Join(t.TempDir(), "staging"), stagingKey(t))
	if err != nil {
		t.Fatal(err)
	}
	data := make([]byte, 2*(8<<20)+777777)
	rand.Read(data)
	st, err := s.Receive(7, "claims.csv")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := copyContext(t.Context(), st, &oddReads{bytes.NewReader(data), 99991}, st.Abort); err != nil {
		t.Fatal(err)
	}
	n, h, err := st.Commit()
	if err != nil || n != int64(len(data)) || h != sum(data) {
		t.Fatalf("commit = %d, %s, %v; want %d, %s", n, h, err, len(data), sum(data))
	}
	sf, err := s.Open(7, "claims.csv")
	if err != nil {
		t.Fatal(err)
	}
	defer sf.Close()
	if got, err := io.ReadAll(sf); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("read back %d of %d bytes: %v", len(got), len(data), err)
	}
}

// blockingReads gives n bytes, then blocks until unblocked or closed.
type blockingReads struct {
	r       io.Reader
	n       int
	blocked chan struct{}
	closed  chan struct{}
	once    sync.Once
}

func (b *blockingReads) Read(p []byte) (int, error) {
	if b.n == 0 {
		b.once.Do(func() { close(b.blocked) })
		<-b.closed
		return 0, os.ErrClosed
	}
	m, err := b.r.Read(p[:min(len(p), b.n)])
	b.n -= m
	return m, err
}

// TestStagedCancelMidReadFrom: a run cancelled while a source copy
// is read by ReadFrom (past several chunks) leaves no staged file, a
// Commit after it fails, and no goroutine stays.
func TestStagedCancelMidReadFrom(t *testing.T) {
	s, err := OpenStaging(filepath.Join(t.TempDir(), "staging"), stagingKey(t))
	if err != nil {
		t.Fatal(err)
	}
	base := runtime.NumGoroutine()
	data := make([]byte, 4<<20)
	rand.Read(data)
	st, err := s.Receive(8, "claims.csv")
	if err != nil {
		t.Fatal(err)
	}
	src := &blockingReads{r: bytes.NewReader(data), n: 3<<20 + 4097, blocked: make(chan struct{}), closed: make(chan struct{})}
	ctx, cancel := context.WithCancel(t.Context())
	go func() {
		<-src.blocked
		cancel()
	}()
	closeSrc := sync.OnceFunc(func() { close(src.closed) })
	_, err = copyContext(ctx, st, src, closeSrc, st.Abort)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("copy: %v, want context.Canceled", err)
	}
	st.Abort()
	if _, _, err := st.Commit(); err == nil {
		t.Fatal("Commit after a cancelled copy succeeded")
	}
	if _, err := os.Stat(s.Path(8, "claims.csv")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("staged copy after cancel: %v, want none", err)
	}
	goroutinesBackTo(t, base)
}

// TestStagedDiskFullReadFrom: staging that fills its disk under
// ReadFrom fails the copy (ENOSPC), Commit does not succeed, and the
// aborted copy leaves nothing on the disk.
func TestStagedDiskFullReadFrom(t *testing.T) {
	dir := mountTmpfs(t, "size=2m")
	s, err := OpenStaging(filepath.Join(dir, "staging"), stagingKey(t))
	if err != nil {
		t.Fatal(err)
	}
	base := runtime.NumGoroutine()
	data := make([]byte, 6<<20)
	rand.Read(data)
	st, err := s.Receive(9, "claims.csv")
	if err != nil {
		t.Fatal(err)
	}
	_, err = copyContext(t.Context(), st, &oddReads{bytes.NewReader(data), 1 << 20}, st.Abort)
	if err == nil {
		_, _, err = st.Commit()
		if err == nil {
			t.Fatal("6 MiB staged and committed on a 2 MiB disk")
		}
	} else {
		st.Abort()
	}
	if !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("copy or commit: %v, want ENOSPC", err)
	}
	if _, err := os.Stat(s.Path(9, "claims.csv")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("staged copy after disk full: %v, want none", err)
	}
	goroutinesBackTo(t, base)
}

// TestCopyContextWaitsForAborts: a cancelled copy returns only once every
// abort has returned, so that what an abort undoes (a staged copy's file)
// is undone when the caller looks: TestStagedCancelMidReadFrom found the
// staged file still there under load when the copy returned as soon as
// the first abort had cut its source.
func TestCopyContextWaitsForAborts(t *testing.T) {
	src := &blockingReads{r: bytes.NewReader(make([]byte, 1<<20)), n: 4096, blocked: make(chan struct{}), closed: make(chan struct{})}
	ctx, cancel := context.WithCancel(t.Context())
	go func() {
		<-src.blocked
		cancel()
	}()
	var undone atomic.Bool
	closeSrc := sync.OnceFunc(func() { close(src.closed) })
	slowAbort := func() {
		time.Sleep(50 * time.Millisecond) // an abort still at work when the copy has ended
		undone.Store(true)
	}
	_, err := copyContext(ctx, io.Discard, src, closeSrc, slowAbort)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("copy: %v, want context.Canceled", err)
	}
	if !undone.Load() {
		t.Fatal("copyContext returned before its aborts had")
	}
}
