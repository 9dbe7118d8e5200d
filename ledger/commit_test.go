package ledger

import (
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"
)

// TestGroupCommit holds a commit open while ten more writes arrive, and
// checks that those ten are committed together in one transaction; then
// again with one of the ten failing, which must be undone alone while the
// other nine are kept. Every caller gets its own result.
func TestGroupCommit(t *testing.T) { forEachBackend(t, testGroupCommit) }

func testGroupCommit(t *testing.T) {
	l, path := openTemp(t)
	put := func(key string) func(tx *sql.Tx) error {
		return func(tx *sql.Tx) error {
			_, err := tx.Exec(`INSERT INTO meta (key, value) VALUES (?, 'v')`, key)
			return err
		}
	}
	boom := errors.New("boom")
	// queued holds a commit open until ten writes wait behind it, lets
	// them go, and returns the writes' results and the transactions the
	// ten took. Write failing (-1: none) fails after it wrote.
	queued := func(phase string, failing int) ([]error, int64) {
		entered, hold := make(chan struct{}), make(chan struct{})
		first := make(chan error, 1)
		go func() {
			first <- l.update(func(tx *sql.Tx) error {
				close(entered)
				<-hold
				return put(phase + "-first")(tx)
			})
		}()
		<-entered
		before := l.commits.Load()
		errs := make([]error, 10)
		var wg sync.WaitGroup
		for i := range errs {
			wg.Go(func() {
				key := fmt.Sprintf("%s-%d", phase, i)
				fn := put(key)
				if i == failing {
					fn = func(tx *sql.Tx) error {
						if err := put(key)(tx); err != nil {
							return err
						}
						return boom // after writing: the write must be undone
					}
				}
				errs[i] = l.update(fn)
			})
		}
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(time.Millisecond) {
			l.wmu.Lock()
			n := len(l.queue)
			l.wmu.Unlock()
			if n == len(errs) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%d writes queued, want %d", n, len(errs))
			}
		}
		close(hold)
		wg.Wait()
		if err := <-first; err != nil {
			t.Fatalf("first write: %v", err)
		}
		return errs, l.commits.Load() - before
	}

	errs, commits := queued("ok", -1)
	if commits != 1 {
		t.Errorf("%d transactions for ten queued writes, want 1", commits)
	}
	for i, err := range errs {
		if err != nil {
			t.Errorf("write %d: %v", i, err)
		}
	}
	errs, _ = queued("bad", 3)
	for i, err := range errs {
		if i == 3 && !errors.Is(err, boom) || i != 3 && err != nil {
			t.Errorf("write %d of a group with a failing write: %v", i, err)
		}
	}

	l.wmu.Lock()
	if l.committing || len(l.queue) != 0 {
		t.Errorf("idle ledger: committing %v, %d queued", l.committing, len(l.queue))
	}
	l.wmu.Unlock()

	// What a reopened ledger sees is what reached the disk.
	l.Close()
	l2, err := openAt(path)
	if err != nil {
		t.Fatal(err)
	}
	defer l2.Close()
	for _, key := range []string{"ok-first", "ok-0", "ok-9", "bad-first", "bad-0", "bad-3", "bad-9"} {
		var v string
		err := l2.db.QueryRow(`SELECT value FROM meta WHERE key = ?`, key).Scan(&v)
		if key == "bad-3" {
			if !errors.Is(err, sql.ErrNoRows) {
				t.Errorf("%s (its write failed) is in the ledger: %v", key, err)
			}
		} else if err != nil {
			t.Errorf("%s: %v", key, err)
		}
	}
}

// TestConcurrentWriters runs the public API from many goroutines at once:
// every file is added, staged and finished exactly once, with its own id.
func TestConcurrentWriters(t *testing.T) { forEachBackend(t, testConcurrentWriters) }

func testConcurrentWriters(t *testing.T) {
	l, _ := openTemp(t)
	const n = 64
	ids := make([]int64, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			f := &File{Job: "j", Partner: "p", Dir: "in", Name: fmt.Sprintf("f%02d.csv", i), Size: 3,
				ModTime: time.Unix(1700000000, 0)}
			id, err := l.AddFile(f)
			if err == nil {
				err = l.MarkStaged(id, hash("abc"), 3)
			}
			if err == nil {
				err = l.SetState(id, StateDone)
			}
			if err != nil {
				t.Errorf("file %d: %v", i, err)
			}
			ids[i] = id
		})
	}
	wg.Wait()
	seen := map[int64]bool{}
	for i, id := range ids {
		f, err := l.File(id)
		if err != nil || f.State != StateDone || f.Name != fmt.Sprintf("f%02d.csv", i) || seen[id] {
			t.Errorf("file %d (id %d): %+v, %v", i, id, f, err)
		}
		seen[id] = true
	}
	t.Logf("%d commits for %d writes", l.commits.Load(), 3*n)
}
