package main

import (
	"errors"
	"testing"
	"time"

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
