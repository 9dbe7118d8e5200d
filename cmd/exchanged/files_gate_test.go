package main

import (
	"errors"
	"path/filepath"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/exchanged/exchanged/config"
	"github.com/exchanged/exchanged/internal/ops"
	"github.com/exchanged/exchanged/ledger"
	"github.com/exchanged/exchanged/schedule"
)

// A file action is refused while its job runs, and a run waits for an
// action under way; other jobs are not held.
func TestJobGate(t *testing.T) {
	var g jobGate
	release := g.hold("claims-in")
	if _, err := g.try("claims-in"); !errors.Is(err, schedule.ErrRunning) {
		t.Fatalf("action during a run: %v, want ErrRunning", err)
	}
	other, err := g.try("payments-out")
	if err != nil {
		t.Fatalf("action on another job during a run: %v", err)
	}
	other()
	release()
	done, err := g.try("claims-in")
	if err != nil {
		t.Fatalf("action after the run: %v", err)
	}
	ran := make(chan struct{})
	go func() {
		g.hold("claims-in")()
		close(ran)
	}()
	select {
	case <-ran:
		t.Fatal("a run started during an action")
	case <-time.After(50 * time.Millisecond):
	}
	done()
	select {
	case <-ran:
	case <-time.After(10 * time.Second):
		t.Fatal("the run did not start after the action")
	}
}

func TestAge(t *testing.T) {
	for s, want := range map[int64]string{-3: "0s", 45: "45s", 720: "12m", 7500: "2h5m", 3*86400 + 4*3600 + 9: "3d4h"} {
		if got := age(s); got != want {
			t.Errorf("age(%d) = %q, want %q", s, got, want)
		}
	}
}

// The daemon's /files actions refuse a file whose job is running, and
// leave it as it was.
func TestDaemonFilesRefuseDuringRun(t *testing.T) {
	dir := t.TempDir()
	l, err := ledger.Open(filepath.Join(dir, "ledger.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	id, err := l.AddFile(&ledger.File{Job: "claims-in", Partner: "acme", Dir: "/outbox", Name: "a.csv", Size: 1, ModTime: time.Unix(1, 0)})
	if err != nil {
		t.Fatal(err)
	}
	d := &daemon{ledger: l, log: zap.NewNop(), cfg: &config.Config{StateDir: dir}}
	release := d.gate.hold("claims-in")
	for name, act := range map[string]func(int64, ops.FileRequest) (any, error){
		"retry": daemonFiles{d}.Retry, "abandon": daemonFiles{d}.Abandon} {
		if _, err := act(id, ops.FileRequest{By: "jan", Reason: "why", Remote: "127.0.0.1:1"}); !errors.Is(err, schedule.ErrRunning) {
			t.Errorf("%s during a run: %v, want ErrRunning", name, err)
		}
	}
	release()
	if as, _ := l.FileActions(id); len(as) != 0 {
		t.Errorf("actions recorded during a run: %+v", as)
	}
	if f, _ := l.File(id); f.State != ledger.StateStaging {
		t.Errorf("file after refused actions = %+v", f)
	}
	if _, err := (daemonFiles{d}).Abandon(id, ops.FileRequest{By: "jan", Reason: "why", Remote: "127.0.0.1:1"}); err != nil {
		t.Errorf("abandon after the run: %v", err)
	}
	if as, _ := l.FileActions(id); len(as) != 1 || as[0].Actor != "jan via the ops endpoint from 127.0.0.1:1" {
		t.Errorf("actions = %+v", as)
	}
}
