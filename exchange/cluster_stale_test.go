package exchange

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/exchanged/exchanged/config"
)

// A node taking over a transformed file whose deliveries began elsewhere
// makes its outputs again (prepareAgain); an output whose destination the
// job gained since the first prepare (a reload on every node) had no
// subjects recorded the first time: made and delivered now, its subjects
// are recorded, so the ledger says that its debtors were disclosed to
// that destination.
func TestClusterAddedDestinationSubjectsRecorded(t *testing.T) {
	a, b, in, out, _ := clusterNodes(t, 3*time.Second)
	mkdirs(t, out, "inbox2")
	transformNodes(t, a, b)
	os.WriteFile(filepath.Join(in, "outbox", "claims_1.csv"), excelClaims(t), 0o644)
	down := true
	failDestination(a, &down)
	if _, err := a.run("j"); !errors.Is(err, ErrFilesFailed) {
		t.Fatalf("a's run: %v", err)
	}
	pend, err := b.ledger.Pending("j")
	if err != nil || len(pend) != 1 {
		t.Fatalf("pending: %+v %v", pend, err)
	}
	if dels, err := b.ledger.Deliveries(pend[0].ID); err != nil || len(dels) != 1 {
		t.Fatalf("a's deliveries: %+v %v", dels, err)
	}
	k1 := b.ledger.Pseudonym("creditor", "K-1")
	if ds, err := b.ledger.Disclosures(k1); err != nil || len(ds) != 1 || ds[0].Index != 0 {
		t.Fatalf("K-1's disclosures after a's run: %+v %v", ds, err)
	}
	// The job gains a destination, on every node (a reload).
	for _, g := range []*rig{a, b} {
		j := g.cfg.Jobs["j"]
		j.Destinations = append(j.Destinations, &config.Destination{Partner: "cases", Dir: "/inbox2"})
		if err := CheckConfig(g.cfg); err != nil {
			t.Fatal(err)
		}
	}
	b.run("j") // a has stopped: b takes the file over
	sent := dirNames(t, filepath.Join(out, "inbox2"))
	ds, err := b.ledger.Disclosures(k1)
	if err != nil {
		t.Fatal(err)
	}
	to1 := 0
	for _, d := range ds {
		if d.Index == 1 {
			to1++
		}
	}
	if len(sent) > 0 && to1 == 0 {
		t.Fatalf("b delivered %v to the destination added since (index 1), and the ledger records no disclosure of K-1 to it: %+v", sent, ds)
	}
}

// A node's copy of a file that another node staged since is dropped only
// if it does not hold the recorded bytes: node a stages a file and begins
// its delivery; node b takes it over, stages it again (staged_on = b) and
// cannot deliver either, then is gone for good. The source then leaves
// the creditor's outbox. a's copy, verified against the recorded sha256,
// is the last one: a keeps it and delivers it.
func TestClusterStaleDropKeepsVerifiedCopy(t *testing.T) {
	a, b, in, out, _ := clusterNodes(t, 3*time.Second)
	os.WriteFile(filepath.Join(in, "outbox", "a.csv"), claims, 0o644)
	down := true
	failDestination(a, &down)
	failDestination(b, &down)
	if _, err := a.run("j"); !errors.Is(err, ErrFilesFailed) {
		t.Fatalf("a's run: %v", err)
	}
	if _, err := b.run("j"); !errors.Is(err, ErrFilesFailed) {
		t.Fatalf("b's run: %v", err)
	}
	pend, err := a.ledger.Pending("j")
	if err != nil || len(pend) != 1 {
		t.Fatalf("pending: %+v %v", pend, err)
	}
	if node, err := a.ledger.StagedOn(pend[0].ID); err != nil || node != "b" {
		t.Fatalf("staged_on = %q, %v; want b", node, err)
	}
	// b is gone for good; the source leaves the outbox.
	if err := os.Remove(filepath.Join(in, "outbox", "a.csv")); err != nil {
		t.Fatal(err)
	}
	down = false
	res, err := a.run("j")
	if err != nil || res.Delivered != 1 {
		t.Fatalf("a's run = %+v, %v (file error %q); want a's verified copy delivered", res, err, a.failure())
	}
	if got, err := os.ReadFile(filepath.Join(out, "inbox", "a.csv")); err != nil || string(got) != string(claims) {
		t.Fatalf("delivered: %d bytes, %v", len(got), err)
	}
}
