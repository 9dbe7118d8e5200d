package exchange

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/exchanged/exchanged/config"
	"github.com/exchanged/exchanged/exchange/endpoint"
	"github.com/exchanged/exchanged/ledger"
)

// A delivered output counts as done only at the destination it went to:
// if the job now names another partner at its index (destinations
// reordered), deliver says the destination changed instead of "done", so
// that the other partner is not silently left without it. "/inbox/" is
// the "/inbox" it went to.
func TestDeliveredElsewhereIsNotDone(t *testing.T) {
	g, acme, _, gdw := transformRig(t)
	os.WriteFile(filepath.Join(acme, "outbox", "claims_1.csv"), excelClaims(t), 0o644)
	if _, err := g.run("claims-in"); err != nil {
		t.Fatal(err)
	}
	f, err := g.ledger.File(1)
	if err != nil {
		t.Fatal(err)
	}
	ds, err := g.ledger.Deliveries(f.ID)
	if err != nil || len(ds) != 3 || ds[1].Index != 0 || ds[1].Partner != "cases" || ds[1].State != ledger.DeliveryDelivered {
		t.Fatalf("deliveries = %+v, %v", ds, err)
	}
	os.Remove(filepath.Join(gdw, "in", "claims_1.csv"))
	rn := &run{Runner: g.runner, runState: &runState{res: &Result{}, eps: map[string]endpoint.Endpoint{}},
		job: g.cfg.Jobs["claims-in"], log: g.runner.log}
	defer rn.closeEndpoints()
	err = rn.deliver(context.Background(), f, 0, &config.Destination{Partner: "gdw", Dir: "/in", Profile: "bailiff"}, &ds[1], nil, false)
	if !errors.Is(err, ErrDestinationChanged) || !endpoint.IsPermanent(err) {
		t.Fatalf("deliver of output 0 delivered to cases, now named gdw = %v; want a permanent ErrDestinationChanged", err)
	}
	if ents, _ := os.ReadDir(filepath.Join(gdw, "in")); len(ents) != 0 {
		t.Errorf("gdw received %d file(s)", len(ents))
	}
	if err := rn.deliver(context.Background(), f, 0, &config.Destination{Partner: "cases", Dir: "/inbox/"}, &ds[1], nil, false); err != nil {
		t.Errorf("deliver to the same destination spelled /inbox/ = %v, want done", err)
	}
}

// A destination a retry superseded a delivery for is not delivered to
// afresh when the config names it again ("/inbox/" for "/inbox"): what
// the old delivery left there is unknown, and a second copy must not
// follow it.
func TestSupersededDestinationComingBackStops(t *testing.T) {
	g, acme, cases, _ := transformRig(t)
	os.WriteFile(filepath.Join(acme, "outbox", "claims_1.csv"), excelClaims(t), 0o644)
	os.RemoveAll(filepath.Join(cases, "inbox"))
	if _, err := g.run("claims-in"); !errors.Is(err, ErrFilesFailed) {
		t.Fatalf("run with cases:/inbox missing: %v", err)
	}
	j := g.cfg.Jobs["claims-in"]
	j.Destinations[0].Dir = "/inbox2"
	mkdirs(t, cases, "inbox2")
	cur := []ledger.Destination{{Index: 0, Partner: "cases", Dir: "/inbox2"}, {Index: 1, Partner: "gdw", Dir: "/in"},
		{Index: -1, Partner: "acme", Dir: "/rejects"}}
	res, err := g.ledger.Retry(1, cur, "jan", "")
	if err != nil || len(res.Superseded) != 1 || res.Superseded[0].Dir != "/inbox" {
		t.Fatalf("retry = %+v, %v", res, err)
	}
	j.Destinations[0].Dir = "/inbox/" // the config went back
	mkdirs(t, cases, "inbox")
	if _, err := g.run("claims-in"); !errors.Is(err, ErrFilesFailed) {
		t.Fatalf("run back to the superseded destination: %v, want the file failed", err)
	}
	if ents, _ := os.ReadDir(filepath.Join(cases, "inbox")); len(ents) != 0 {
		t.Errorf("the superseded destination received %d file(s)", len(ents))
	}
	ev := g.logs.FilterMessage("file failed").All()
	if last := ev[len(ev)-1].ContextMap()["error"].(string); !strings.Contains(last, "superseded by a retry") {
		t.Errorf("failure = %q, want it to say the delivery there was superseded", last)
	}
}

// Destinations swapped after both deliveries failed: the retry supersedes
// both, and neither directory gets a fresh delivery under another index,
// since what the superseded one left there is unknown.
func TestSupersededDestinationSwappedStops(t *testing.T) {
	g, in, out := localRig(t, config.Source{}, &config.Destination{Partner: "cases", Dir: "/inbox"},
		&config.Destination{Partner: "cases", Dir: "/inbox2"})
	os.RemoveAll(filepath.Join(out, "inbox"))
	os.WriteFile(filepath.Join(in, "outbox", "a.csv"), claims, 0o644)
	if _, err := g.run("j"); !errors.Is(err, ErrFilesFailed) {
		t.Fatalf("first run: %v, want the file failed", err)
	}
	j := g.cfg.Jobs["j"]
	j.Destinations[0], j.Destinations[1] = j.Destinations[1], j.Destinations[0]
	cur := []ledger.Destination{{Index: 0, Partner: "cases", Dir: "/inbox2", Name: "a.csv"},
		{Index: 1, Partner: "cases", Dir: "/inbox", Name: "a.csv"}}
	res, err := g.ledger.Retry(1, cur, "jan", "")
	if err != nil || len(res.Superseded) != 2 {
		t.Fatalf("retry = %+v, %v; want both deliveries superseded", res, err)
	}
	mkdirs(t, out, "inbox", "inbox2")
	if _, err := g.run("j"); !errors.Is(err, ErrFilesFailed) {
		t.Fatalf("run after the swap: %v, want the file failed", err)
	}
	for _, d := range []string{"inbox", "inbox2"} {
		if ents, _ := os.ReadDir(filepath.Join(out, d)); len(ents) != 0 {
			t.Errorf("%s received %d file(s) after its delivery was superseded", d, len(ents))
		}
	}
}
