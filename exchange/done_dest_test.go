package exchange

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/exchanged/exchanged/config"
	"github.com/exchanged/exchanged/ledger"
)

// A file is recorded done with its last delivery
// still to make only when nothing after it can fail. A later output
// already delivered, but to a destination the job no longer names there
// (destinations changed by a reload), fails with ErrDestinationChanged:
// the file must stay pending (as before issue 15), not be recorded done
// with the partner the job now names never having received it.
func TestDoneNotRecordedBeforeChangedDestination(t *testing.T) {
	g, in, out := localRig(t, config.Source{}, &config.Destination{Partner: "cases", Dir: "/inbox"},
		&config.Destination{Partner: "cases", Dir: "/inbox2"})
	mkdirs(t, out, "inbox2", "inbox3")
	os.RemoveAll(filepath.Join(out, "inbox"))
	os.WriteFile(filepath.Join(in, "outbox", "a.csv"), claims, 0o644)
	if _, err := g.run("j"); !errors.Is(err, ErrFilesFailed) {
		t.Fatalf("first run: %v, want the file failed (cases:/inbox missing)", err)
	}
	ds, err := g.ledger.Deliveries(1)
	if err != nil || len(ds) != 2 || ds[1].State != ledger.DeliveryDelivered {
		t.Fatalf("deliveries after the first run = %+v, %v; want output 1 delivered", ds, err)
	}
	mkdirs(t, out, "inbox")
	g.cfg.Jobs["j"].Destinations[1].Dir = "/inbox3" // output 1 now goes elsewhere
	if _, err := g.run("j"); !errors.Is(err, ErrFilesFailed) {
		t.Fatalf("second run: %v, want the file failed (output 1's destination changed)", err)
	}
	f, err := g.ledger.File(1)
	if err != nil {
		t.Fatal(err)
	}
	if ents, _ := os.ReadDir(filepath.Join(out, "inbox3")); len(ents) == 0 && f.State == ledger.StateDone {
		t.Errorf("file recorded %s while cases:/inbox3, which the job names, never received it", f.State)
	}
}
