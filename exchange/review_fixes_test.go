package exchange

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/exchanged/exchanged/config"
	"github.com/exchanged/exchanged/exchange/endpoint/sftp"
	"github.com/exchanged/exchanged/internal/sftpd"
	"github.com/exchanged/exchanged/ledger"
)

// A job's destinations reordered by a reload while deliveries are stuck:
// no destination may get an output made for another, and the ledger's
// record of who got what must stay true.
func TestReorderedDestinationsGetNothingElses(t *testing.T) {
	g, acme, cases, gdw := transformRig(t)
	os.WriteFile(filepath.Join(acme, "outbox", "claims_1.csv"), excelClaims(t), 0o644)
	os.RemoveAll(filepath.Join(cases, "inbox"))
	os.RemoveAll(filepath.Join(gdw, "in"))
	if _, err := g.run("claims-in"); err == nil {
		t.Fatal("run succeeded with both destinations missing")
	}
	mkdirs(t, cases, "inbox")
	mkdirs(t, gdw, "in")
	j := g.cfg.Jobs["claims-in"]
	j.Destinations[0], j.Destinations[1] = j.Destinations[1], j.Destinations[0]
	res, err := g.run("claims-in")
	if !errors.Is(err, ErrFilesFailed) || res.Delivered != 0 {
		t.Fatalf("run after reorder = %+v, %v; want nothing delivered", res, err)
	}
	for _, dir := range []string{filepath.Join(cases, "inbox"), filepath.Join(gdw, "in")} {
		if ents, _ := os.ReadDir(dir); len(ents) != 0 {
			t.Errorf("%s received %d file(s) after a reorder", dir, len(ents))
		}
	}
	ev := g.logs.FilterMessage("file failed").All()
	if last := ev[len(ev)-1].ContextMap()["error"].(string); !strings.Contains(last, "destination changed") {
		t.Fatalf("failure = %q, want it to say the destination changed", last)
	}
}

// A source file named like our internal staged names cannot clobber its
// own reject report.
func TestSourceNamedLikeInternalFiles(t *testing.T) {
	g, acme, _, _ := transformRig(t)
	g.cfg.Jobs["claims-in"].Source.Match = "*"
	os.WriteFile(filepath.Join(acme, "outbox", "rejects.csv"), []byte("Factuur;BSN\r\nF-1;111222333\r\n"), 0o644)
	if _, err := g.run("claims-in"); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(acme, "rejects", "rejects.rejects.csv"))
	if err != nil || !strings.Contains(string(b), "bsn_column") {
		t.Fatalf("report = %q, %v", b, err)
	}
}

// A crash in a rejection after the staged copy was removed, before the
// report was staged (no rejects destination): the next run finishes it.
func TestRejectionResumesWithoutReport(t *testing.T) {
	g, acme, _, _ := transformRig(t)
	g.cfg.Jobs["claims-in"].Rejects = nil
	os.WriteFile(filepath.Join(acme, "outbox", "claims_bsn.csv"), []byte("Factuur;BSN\r\nF-1;111222333\r\n"), 0o644)
	// Take the file to "cleaned", then remove its staged copy as the
	// rejection does just before a crash.
	f := &ledger.File{Job: "claims-in", Partner: "acme", Dir: "/outbox", Name: "claims_bsn.csv", Size: 1, ModTime: g.runner.Now()}
	id, err := g.ledger.AddFile(f)
	if err != nil {
		t.Fatal(err)
	}
	st, _ := g.runner.Staging().Create(id, "claims_bsn.csv")
	st.Write([]byte("x"))
	n, sum, _ := st.Commit()
	g.ledger.MarkStaged(id, sum, n)
	g.ledger.SetState(id, ledger.StateCleaned)
	if err := g.runner.Staging().MarkRejected(id); err != nil {
		t.Fatal(err)
	}
	os.Remove(g.runner.Staging().Path(id, "claims_bsn.csv"))
	os.Remove(filepath.Join(acme, "outbox", "claims_bsn.csv"))
	if _, err := g.run("claims-in"); err != nil {
		t.Fatal(err)
	}
	if got, _ := g.ledger.File(id); got.State != ledger.StateRejected {
		t.Fatalf("state = %s, want rejected", got.State)
	}
	g.stagingEmpty()
}

// A staged copy that is missing without the rejection's mark is not taken
// for a rejection: the file fails loudly, stays pending, and nothing of it
// is removed or recorded as rejected.
func TestMissingStagedCopyIsNotARejection(t *testing.T) {
	g, _, _, _ := transformRig(t)
	f := &ledger.File{Job: "claims-in", Partner: "acme", Dir: "/outbox", Name: "claims_1.csv", Size: 1, ModTime: g.runner.Now()}
	id, err := g.ledger.AddFile(f)
	if err != nil {
		t.Fatal(err)
	}
	g.ledger.MarkStaged(id, sum([]byte("x")), 1)
	g.ledger.SetState(id, ledger.StateCleaned)
	res, err := g.run("claims-in")
	if err == nil || res.Failed != 1 {
		t.Fatalf("run = %+v, %v; want the file failed", res, err)
	}
	got, _ := g.ledger.File(id)
	if got.State != ledger.StateCleaned || !strings.Contains(got.Error, "staged copy of file") {
		t.Fatalf("file = %+v; want still cleaned, with the missing copy as its error", got)
	}
	if ev := g.logs.FilterMessage("file failed").All(); len(ev) != 1 || ev[0].ContextMap()["permanent"] != true {
		t.Errorf("file failed events = %v", ev)
	}
}

// TestUpgradeAdoptsStagedCopies: files staged by the versions that kept a
// source copy as staging/ID/NAME, and later as staging/ID-NAME, are found
// after an upgrade (which keeps it as staging/ID.src), delivered, and
// their staging emptied; a copy under the current name is kept over an
// old one beside it.
func TestUpgradeAdoptsStagedCopies(t *testing.T) {
	g, _, out := localRig(t, config.Source{}) // the sources were deleted before the upgrade
	dir := g.runner.Staging().Dir()
	stage := func(name string, at func(id string) string, body []byte) int64 {
		t.Helper()
		f := &ledger.File{Job: "j", Partner: "creditor", Dir: "/outbox", Name: name, Size: int64(len(body)), ModTime: g.runner.Now()}
		id, err := g.ledger.AddFile(f)
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, at(strconv.FormatInt(id, 10)))
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, body, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := g.ledger.MarkStaged(id, sum(body), int64(len(body))); err != nil {
			t.Fatal(err)
		}
		return id
	}
	other := append([]byte("other\n"), claims...)
	ids := []int64{
		stage("a.csv", func(id string) string { return filepath.Join(id, "a.csv") }, claims),
		stage("b.csv", func(id string) string { return id + "-b.csv" }, other),
		// Both names: the current one counts, the old one is removed.
		stage("c.csv", func(id string) string { return id + ".src" }, claims),
	}
	os.WriteFile(filepath.Join(dir, strconv.FormatInt(ids[2], 10)+"-c.csv"), []byte("stale"), 0o600)

	// The upgraded binary starts: a new runner over the same state dir.
	r, err := NewRunner(g.cfg, g.ledger, nil)
	if err != nil {
		t.Fatal(err)
	}
	g.runner = r
	if res, err := g.run("j"); err != nil || res.Delivered != 3 {
		t.Fatalf("run = %+v, %v; want the staged files delivered", res, err)
	}
	for name, want := range map[string][]byte{"a.csv": claims, "b.csv": other, "c.csv": claims} {
		if b, _ := os.ReadFile(filepath.Join(out, "inbox", name)); !bytes.Equal(b, want) {
			t.Errorf("%s: delivered %q", name, b)
		}
	}
	for _, id := range ids {
		if got, _ := g.ledger.File(id); got.State != ledger.StateDone {
			t.Fatalf("file %d: state = %s, want done", id, got.State)
		}
	}
	g.stagingEmpty()
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Fatalf("staging holds %v", ents)
	}
}

func TestLockStateDir(t *testing.T) {
	dir := t.TempDir()
	unlock, err := LockStateDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := LockStateDir(dir); !errors.Is(err, ErrStateDirInUse) {
		t.Fatalf("second lock = %v, want ErrStateDirInUse", err)
	}
	unlock()
	unlock2, err := LockStateDir(dir)
	if err != nil {
		t.Fatalf("lock after unlock: %v", err)
	}
	unlock2()
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

func TestSweepStagingRemovesOrphans(t *testing.T) {
	g, _, _ := localRig(t, config.Source{})
	st, _ := g.runner.Staging().Create(4242, "orphan.csv")
	st.Write(claims)
	st.Commit()
	if err := g.runner.sweepStaging(); err != nil {
		t.Fatal(err)
	}
	g.stagingEmpty()
}

// cancelWriter cancels its context on the first write, then keeps taking
// bytes, as a staging file would.
type cancelWriter struct {
	cancel func()
	n      int64
}

func (w *cancelWriter) Write(p []byte) (int, error) {
	w.cancel()
	w.n += int64(len(p))
	return len(p), nil
}

// Cancelling a run stops a download in flight: pkg/sftp holds the file's
// lock for the whole WriteTo, so the connection is cut instead of closing
// the file.
func TestCancelStopsSFTPDownload(t *testing.T) {
	s := startInproc(t, sftpd.Options{})
	big := bytes.Repeat([]byte("0123456789abcdef"), 16<<20/16*16) // 256 MiB
	os.WriteFile(filepath.Join(s.root, "big.csv"), big, 0o600)
	ep := sftp.New("p", s.cfg, nil, nil)
	defer ep.Close()
	ctx, cancel := context.WithCancel(context.Background())
	r, err := ep.Open(ctx, "/big.csv")
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	w := &cancelWriter{cancel: cancel}
	done := make(chan error, 1)
	go func() { _, err := copyContext(ctx, w, r, r.Abort); done <- err }()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("copy = %v, want context.Canceled", err)
		}
		if w.n >= int64(len(big)) {
			t.Fatal("the whole file was read although the copy was cancelled at once")
		}
	case <-time.After(2 * time.Minute):
		t.Fatal("cancelled download did not stop")
	}
	// The endpoint redials for the next call.
	if _, err := ep.Stat(context.Background(), "/big.csv"); err != nil {
		t.Fatalf("Stat after an aborted download: %v", err)
	}
}

// After a reload the old and the new runner share a partner's connection
// limit: with max_conns 1, a connection of the old runner's leaves none
// for the new one until it is closed. A partner whose limit changed gets
// a limit of its own.
func TestReloadSharesConnectionLimit(t *testing.T) {
	s := startInproc(t, sftpd.Options{})
	cfg := s.cfg
	cfg.MaxConns, cfg.Timeout = 1, config.Duration(100*time.Millisecond)
	mk := func(otherConns int) *rig {
		other := cfg
		other.MaxConns = otherConns
		return newRig(t, map[string]*config.Partner{
			"acme": sftpPartner("creditor", cfg), "other": sftpPartner("creditor", other),
		}, map[string]*config.Job{"j": {Source: config.Source{Partner: "acme", Dir: "/"}}})
	}
	old, next := mk(2), mk(3) // the reload changes other's max_conns only
	next.runner.ShareLimits(old.runner)

	held := sftp.New("acme", cfg, nil, old.runner.sems["acme"])
	defer held.Close()
	if _, err := held.List(context.Background(), "/"); err != nil {
		t.Fatal(err)
	}
	ep := sftp.New("acme", cfg, nil, next.runner.sems["acme"])
	defer ep.Close()
	if _, err := ep.List(context.Background(), "/"); err == nil || !strings.Contains(err.Error(), "no free connection") {
		t.Fatalf("new runner's connection while the old one holds the only slot: %v", err)
	}
	held.Close()
	if _, err := ep.List(context.Background(), "/"); err != nil {
		t.Fatalf("after the old connection closed: %v", err)
	}
	if next.runner.sems["other"] == old.runner.sems["other"] || cap(next.runner.sems["other"]) != 3 {
		t.Error("a partner whose max_conns changed shares the old limit")
	}
}
