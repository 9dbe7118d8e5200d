package main

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/exchanged/exchanged/config"
	"github.com/exchanged/exchanged/exchange"
	"github.com/exchanged/exchanged/internal/pgtest"
	"github.com/exchanged/exchanged/ledger"
)

// In a cluster the source is cleaned only once the file is delivered, so
// a file abandoned past staging (here: transformed, its delivery failing)
// still stands at the source, with its personal data, and no run cleans
// it (the file is finished; its source, as it stands, is not taken
// again). The abandon says so, and what to do with it, and does not ask
// for --source-gone-ok for a staged copy that is not the last.
func TestClusterAbandonSaysSourceStands(t *testing.T) {
	work := t.TempDir()
	src := filepath.Join(work, "creditor")
	os.MkdirAll(filepath.Join(src, "outbox"), 0o755)
	cfg := &config.Config{Version: 1, StateDir: filepath.Join(work, "state"),
		Cluster:  &config.Cluster{Node: "a", Lease: config.Duration(30 * time.Second)},
		Partners: map[string]*config.Partner{"acme": {Name: "acme", Local: &config.Local{Root: src}}},
		Jobs: map[string]*config.Job{"j": {Name: "j", Source: config.Source{Partner: "acme", Dir: "/outbox", After: config.AfterDelete},
			Destinations: []*config.Destination{{Partner: "acme", Dir: "/inbox"}}}}}
	l, err := ledger.Open(filepath.Join(work, "ledger.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	data := []byte("K-1;J. de Vries;1.234,56\r\n")
	p := filepath.Join(src, "outbox", "a.csv")
	os.WriteFile(p, data, 0o644)
	fi, _ := os.Stat(p)
	f := &ledger.File{Job: "j", Partner: "acme", Dir: "/outbox", Name: "a.csv", Size: fi.Size(), ModTime: fi.ModTime()}
	id, err := l.AddFile(f)
	if err != nil {
		t.Fatal(err)
	}
	for _, step := range []func() error{
		func() error { return l.MarkStaged(id, strings.Repeat("0", 64), fi.Size()) },
		func() error { return l.SetState(id, ledger.StateCleaned) },
		func() error { return l.SetState(id, ledger.StateTransformed) },
	} {
		if err := step(); err != nil {
			t.Fatal(err)
		}
	}
	// This node's staged copy (what stands there is not read).
	st := exchange.StagingAt(filepath.Join(cfg.StateDir, "staging"))
	os.MkdirAll(st.Dir(), 0o700)
	if err := os.WriteFile(st.Path(id, "a.csv"), data, 0o600); err != nil {
		t.Fatal(err)
	}
	o := &fileOps{cfg: cfg, ledger: l, log: zap.NewNop(), now: time.Now}
	rep, err := o.abandon(id, "tester", "ticket 1", false)
	if err != nil {
		t.Fatalf("abandon without --source-gone-ok of a file whose source stands: %v", err)
	}
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("the source was touched: %v", err)
	}
	for _, want := range []string{"in a cluster the source is cleaned only once the file is delivered", "still stands at acme:/outbox/a.csv", "delete it there"} {
		if !strings.Contains(rep.Source, want) {
			t.Errorf("the abandon's source note %q does not say %q", rep.Source, want)
		}
	}
	if strings.Contains(rep.Source, "gone") || strings.Contains(rep.Source, "last") {
		t.Errorf("the abandon's source note says the source is gone: %q", rep.Source)
	}
	if len(rep.Staging) != 1 || len(st.Held(id, "a.csv")) != 0 {
		t.Errorf("staging removed %v, left %v; want the copy removed", rep.Staging, st.Held(id, "a.csv"))
	}
}

// A file action in a cluster writes under the job's lease it took
// (actionLease): an action that outlasts the lease, which a run may have
// taken over since, has its writes refused and changes nothing; within
// the lease it is done, and the lease released.
func TestClusterFileActionFenced(t *testing.T) {
	dsn := pgtest.DSN(t)
	l, err := ledger.OpenPostgresCluster(dsn, make([]byte, 32))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	work := t.TempDir()
	lease := 300 * time.Millisecond
	cfg := &config.Config{Version: 1, StateDir: filepath.Join(work, "state"),
		Cluster:  &config.Cluster{Node: "a", Lease: config.Duration(lease)},
		Partners: map[string]*config.Partner{"acme": {Name: "acme", Local: &config.Local{Root: work}}},
		Jobs: map[string]*config.Job{"j": {Name: "j", Source: config.Source{Partner: "acme", Dir: "/outbox", After: config.AfterKeep},
			Destinations: []*config.Destination{{Partner: "acme", Dir: "/inbox"}}}}}
	id, err := l.AddFile(&ledger.File{Job: "j", Partner: "acme", Dir: "/outbox", Name: "a.csv", Size: 1, ModTime: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	if err := l.MarkStaged(id, strings.Repeat("0", 64), 1); err != nil {
		t.Fatal(err)
	}
	fl, release, err := actionLease(l, cfg.Cluster, "j", zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(lease + 200*time.Millisecond) // an action slower than its lease
	o := &fileOps{cfg: cfg, ledger: fl, log: zap.NewNop(), now: time.Now}
	if _, err := o.abandon(id, "tester", "ticket 1", false); !errors.Is(err, ledger.ErrFenced) {
		t.Fatalf("abandon past the lease: %v, want ErrFenced", err)
	}
	release()
	if f, err := l.File(id); err != nil || f.State != ledger.StateStaged {
		t.Fatalf("file after a fenced abandon: %+v %v; want it unchanged", f, err)
	}
	fl, release, err = actionLease(l, cfg.Cluster, "j", zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	o.ledger = fl
	if _, err := o.abandon(id, "tester", "ticket 1", false); err != nil {
		t.Fatalf("abandon within the lease: %v", err)
	}
	release()
	if f, err := l.File(id); err != nil || f.State != ledger.StateRejected {
		t.Fatalf("file after the abandon: %+v %v; want it finished", f, err)
	}
	if _, err := l.LeaseHolder(context.Background(), "job:j"); !errors.Is(err, ledger.ErrNotFound) {
		t.Fatalf("lease after the action: %v, want released", err)
	}
}
