package exchange

import (
	"context"
	"errors"
	"os"
	"path/filepath"
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
	err = rn.deliver(context.Background(), f, 0, &config.Destination{Partner: "gdw", Dir: "/in", Profile: "bailiff"}, &ds[1])
	if !errors.Is(err, ErrDestinationChanged) || !endpoint.IsPermanent(err) {
		t.Fatalf("deliver of output 0 delivered to cases, now named gdw = %v; want a permanent ErrDestinationChanged", err)
	}
	if ents, _ := os.ReadDir(filepath.Join(gdw, "in")); len(ents) != 0 {
		t.Errorf("gdw received %d file(s)", len(ents))
	}
	if err := rn.deliver(context.Background(), f, 0, &config.Destination{Partner: "cases", Dir: "/inbox/"}, &ds[1]); err != nil {
		t.Errorf("deliver to the same destination spelled /inbox/ = %v, want done", err)
	}
}
