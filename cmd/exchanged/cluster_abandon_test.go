package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/exchanged/exchanged/config"
	"github.com/exchanged/exchanged/exchange"
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
