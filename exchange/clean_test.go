package exchange

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/exchanged/exchanged/config"
	"github.com/exchanged/exchanged/exchange/endpoint"
	"github.com/exchanged/exchanged/ledger"
)

// TestMoveToMissingDir, from a local source and a real sshd: `after:
// move:DIR` with a DIR that does not exist moves nothing and records
// nothing as cleaned: the file stays at the source, pending (staged, not
// cleaned, not delivered), with an error that names the directory, run
// after run, and is never imported twice. Once the directory exists, the
// next run moves it there, exactly once, and delivers it.
func TestMoveToMissingDir(t *testing.T) {
	for _, kind := range sources {
		t.Run(kind, func(t *testing.T) {
			g := newSrcRig(t, kind, config.Source{After: "move:/processed"})
			src := filepath.Join(g.in, "outbox", "a.csv")
			os.WriteFile(src, claims, 0o644)
			dir := g.at("/processed")
			for run := 1; run <= 2; run++ {
				res, err := g.run("j")
				if !errors.Is(err, ErrFilesFailed) || res.Failed != 1 || res.Delivered != 0 {
					t.Fatalf("run %d = %+v, %v; want the file failed, nothing delivered", run, res, err)
				}
				if b, _ := os.ReadFile(src); !bytes.Equal(b, claims) {
					t.Fatalf("run %d: the source file is not where it was", run)
				}
				if ev := g.logs.FilterMessage("source cleaned").All(); len(ev) != 0 {
					t.Fatalf("run %d: %v; nothing was cleaned", run, ev[0].ContextMap())
				}
				ev := g.logs.FilterMessage("file failed").All()
				if len(ev) != run || ev[run-1].ContextMap()["step"] != "clean" {
					t.Fatalf("run %d: failure events %v", run, ev)
				}
				e := ev[run-1].ContextMap()["error"].(string)
				if !strings.Contains(e, "move source file to "+dir+": the directory does not exist") {
					t.Errorf("run %d: error %q does not name the missing directory %s", run, e, dir)
				}
				f := fileNamed(t, g.rig, "a.csv") // and only once
				if f.State != ledger.StateStaged || f.Attempts != run || !strings.Contains(f.Error, dir) {
					t.Fatalf("run %d: file = %+v; want staged, failed %d time(s), the directory in its error", run, f, run)
				}
				if ents, _ := os.ReadDir(filepath.Join(g.out, "inbox")); len(ents) != 0 {
					t.Fatalf("run %d: delivered before the source was cleaned", run)
				}
			}

			mkdirs(t, g.in, "processed")
			res, err := g.run("j")
			if err != nil || res.Files != 1 || res.Delivered != 1 {
				t.Fatalf("run with the directory made = %+v, %v; want the file moved and delivered", res, err)
			}
			if _, err := os.Stat(src); !errors.Is(err, os.ErrNotExist) {
				t.Fatal("the source file was not moved")
			}
			assertOnly(t, filepath.Join(g.in, "processed"), "a.csv")
			if b, _ := os.ReadFile(filepath.Join(g.in, "processed", "a.csv")); !bytes.Equal(b, claims) {
				t.Fatalf("moved file = %q", b)
			}
			if ev := g.logs.FilterMessage("source cleaned").All(); len(ev) != 1 || ev[0].ContextMap()["outcome"] != "moved" {
				t.Fatalf("source cleaned events = %v; want one, moved", ev)
			}
			if b, _ := os.ReadFile(filepath.Join(g.out, "inbox", "a.csv")); !bytes.Equal(b, claims) {
				t.Fatalf("delivered %q", b)
			}
			if f := fileNamed(t, g.rig, "a.csv"); f.State != ledger.StateDone || f.Error != "" {
				t.Fatalf("file = %+v; want done, its failures cleared", f)
			}

			// Nothing more to do: the moved file is not imported again.
			if res, err := g.run("j"); err != nil || res.Files != 0 {
				t.Fatalf("last run = %+v, %v; want nothing", res, err)
			}
			assertOnly(t, filepath.Join(g.in, "processed"), "a.csv")
			g.stagingEmpty()
		})
	}
}

// TestMoveBesideNamesakeLongName: a 255-byte name moved into a directory
// that holds a file of that name already goes beside it under a name cut
// to 255 bytes, not one that no file system takes.
func TestMoveBesideNamesakeLongName(t *testing.T) {
	g := newSrcRig(t, "local", config.Source{After: "move:/processed"})
	name := longName(255)
	mkdirs(t, g.in, "processed")
	os.WriteFile(filepath.Join(g.in, "processed", name), []byte("earlier"), 0o644)
	os.WriteFile(filepath.Join(g.in, "outbox", name), claims, 0o644)
	g.run("j") // its delivery may wait on temp names (branch i9-delivery)
	f := fileNamed(t, g.rig, name)
	if f.State == ledger.StateStaging || f.State == ledger.StateStaged {
		t.Fatalf("file = %+v; want the source cleaned", f)
	}
	moved := movedName(name, f.ID)
	if len(moved) != endpoint.MaxName {
		t.Fatalf("moved name of %d bytes", len(moved))
	}
	if b, _ := os.ReadFile(filepath.Join(g.in, "processed", moved)); !bytes.Equal(b, claims) {
		t.Fatalf("moved file = %q", b)
	}
	if b, _ := os.ReadFile(filepath.Join(g.in, "processed", name)); string(b) != "earlier" {
		t.Fatalf("the earlier file was touched: %q", b)
	}
}

// TestCleanSourceGoneIsNotMoved: a source file gone before it was cleaned
// (taken by someone else) is not logged as moved or deleted: its staged
// copy is what counts, and it is delivered.
func TestCleanSourceGoneIsNotMoved(t *testing.T) {
	g := newSrcRig(t, "local", config.Source{After: "move:/processed"})
	mkdirs(t, g.in, "processed")
	p := filepath.Join(g.in, "outbox", "a.csv")
	os.WriteFile(p, claims, 0o644)
	stagedUncleaned(t, g.rig, g.in, "a.csv")
	os.Remove(p)
	if res, err := g.run("j"); err != nil || res.Delivered != 1 {
		t.Fatalf("run = %+v, %v", res, err)
	}
	if ev := g.logs.FilterMessage("source cleaned").All(); len(ev) != 1 || ev[0].ContextMap()["outcome"] != "gone" {
		t.Fatalf("source cleaned events = %v; want outcome gone", ev)
	}
}

// stagedUncleaned records the file root/outbox/name of job j as a crash
// after its staging left it: staged and recorded, its source not yet
// cleaned. It returns its id.
func stagedUncleaned(t *testing.T, g *rig, root, name string) int64 {
	t.Helper()
	return stagedFile(t, g, "j", "creditor", root, name)
}

// stagedFile is stagedUncleaned for the file of job from partner.
func stagedFile(t *testing.T, g *rig, job, partner, root, name string) int64 {
	t.Helper()
	body, err := os.ReadFile(filepath.Join(root, "outbox", name))
	if err != nil {
		t.Fatal(err)
	}
	fi, _ := os.Stat(filepath.Join(root, "outbox", name))
	f := &ledger.File{Job: job, Partner: partner, Dir: "/outbox", Name: name, Size: fi.Size(), ModTime: fi.ModTime()}
	id, err := g.ledger.AddFile(f)
	if err != nil {
		t.Fatal(err)
	}
	st, err := g.runner.Staging().Receive(id, name)
	if err != nil {
		t.Fatal(err)
	}
	st.Write(body)
	n, sha, err := st.Commit()
	if err != nil {
		t.Fatal(err)
	}
	if err := g.ledger.MarkStaged(id, sha, n); err != nil {
		t.Fatal(err)
	}
	return id
}

// The source file was replaced by the creditor after staging but before
// cleaning: the new file is not removed, and is imported on its own.
func TestCleanSourceLeavesReplacedFile(t *testing.T) {
	g, in, out := localRig(t, config.Source{})
	p := filepath.Join(in, "outbox", "a.csv")
	os.WriteFile(p, claims, 0o644)
	stagedUncleaned(t, g, in, "a.csv")
	newer := append([]byte("new version\n"), claims...)
	os.WriteFile(p, newer, 0o644) // the creditor's next export, same name
	if _, err := g.run("j"); !errors.Is(err, ErrFilesFailed) {
		t.Fatalf("run = %v; want the new version waiting for the destination name", err)
	}
	if len(g.logs.FilterMessage("source replaced").All()) != 1 {
		t.Fatal("want a 'source replaced' event")
	}
	// The old version was delivered, and the new one was imported too.
	got, _ := os.ReadFile(filepath.Join(out, "inbox", "a.csv"))
	if !bytes.Equal(got, claims) {
		t.Fatalf("delivered %q", got)
	}
	if pend, _ := g.ledger.Pending("j"); len(pend) != 1 || pend[0].Size != int64(len(newer)) {
		t.Fatalf("the new version should be imported and waiting (destination name taken): %v", pend)
	}
	if _, err := os.Stat(p); !os.IsNotExist(err) {
		t.Fatal("the new version, once staged, should be cleaned from the source")
	}
}
