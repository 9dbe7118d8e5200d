package exchange

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/exchanged/exchanged/config"
	"github.com/exchanged/exchanged/exchange/endpoint"
	"github.com/exchanged/exchanged/ledger"
)

// failCases has every write to cases fail while *fail holds.
func failCases(g *rig, fail *bool) {
	g.runner.wrapEndpoint = func(partner string, ep endpoint.Endpoint) endpoint.Endpoint {
		if partner == "cases" && *fail {
			return failWrite{Endpoint: ep, after: 20}
		}
		return ep
	}
	g.runner.Retry.Attempts = 1
}

// lastFailure is the error of the last "file failed" event, and whether
// it was permanent.
func lastFailure(t *testing.T, g *rig) (string, bool) {
	t.Helper()
	ev := g.logs.FilterMessage("file failed").All()
	if len(ev) == 0 {
		t.Fatal("no file failed event")
	}
	m := ev[len(ev)-1].ContextMap()
	return toString(m["error"]), m["permanent"] == true
}

// A reload that removes a destination's pgp: while its delivery is under
// way does not resume it with the plaintext under the .pgp name (nor
// record it delivered with the ciphertext's sha256): it fails,
// permanently, as a changed destination, until "files retry" supersedes
// it; then a fresh delivery sends the plaintext under the plain name.
func TestPGPReloadRemovesPGPDuringDelivery(t *testing.T) {
	k := newPGPKeys(t, "never")
	d := &config.Destination{Partner: "cases", Dir: "/inbox", Checksum: true, PGP: &config.PGPOut{EncryptTo: k.partnerPub}}
	g, in, out := localRig(t, config.Source{Settle: settle(time.Second)}, d)
	os.WriteFile(filepath.Join(in, "outbox", "a.csv"), claims, 0o644)
	fail := true
	failCases(g, &fail)
	if _, err := g.run("j"); !errors.Is(err, ErrFilesFailed) {
		t.Fatalf("first run: %v", err)
	}
	fail = false
	d.PGP = nil // the reload
	if _, err := g.run("j"); !errors.Is(err, ErrFilesFailed) {
		t.Fatalf("second run: %v", err)
	}
	msg, permanent := lastFailure(t, g)
	if !permanent || !strings.Contains(msg, "a.csv.pgp") || !strings.Contains(msg, "exchanged files retry 1") {
		t.Errorf("failure %q (permanent %v)", msg, permanent)
	}
	if ents, _ := os.ReadDir(filepath.Join(out, "inbox")); len(ents) != 0 {
		t.Fatalf("inbox holds %d files after the reload", len(ents))
	}
	pend, _ := g.ledger.Pending("j")
	if len(pend) != 1 {
		t.Fatalf("pending %+v", pend)
	}
	res, err := g.ledger.Retry(pend[0].ID, []ledger.Destination{{Index: 0, Partner: "cases", Dir: "/inbox",
		Name: DeliveredName(g.cfg.Jobs["j"], 0, "a.csv")}}, "ops", "pgp removed")
	if err != nil || len(res.Superseded) != 1 || res.Superseded[0].Name != "a.csv.pgp" {
		t.Fatalf("retry: %+v, %v", res, err)
	}
	if _, err := g.run("j"); err != nil {
		t.Fatalf("run after retry: %v", err)
	}
	got, err := os.ReadFile(filepath.Join(out, "inbox", "a.csv"))
	if err != nil || !bytes.Equal(got, claims) {
		t.Fatalf("a.csv: %v", err)
	}
	if _, err := os.Stat(filepath.Join(out, "inbox", "a.csv.pgp")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a.csv.pgp at the partner: %v", err)
	}
	dels, _ := g.ledger.Deliveries(pend[0].ID)
	if len(dels) != 1 || dels[0].Name != "a.csv" || dels[0].SHA256 != sum(claims) || dels[0].State != ledger.DeliveryDelivered {
		t.Errorf("deliveries %+v", dels)
	}
}

// A reload that adds pgp: to a destination after the file was prepared
// fails it permanently with what to do: the delivery under way as a
// changed destination, and once "files retry" superseded it, the output
// the job now names as missing (abandon), rather than as a missing
// staged file retried run after run.
func TestPGPReloadAddsPGPAfterPrepare(t *testing.T) {
	k := newPGPKeys(t, "never")
	d := &config.Destination{Partner: "cases", Dir: "/inbox"}
	g, in, out := localRig(t, config.Source{Settle: settle(time.Second)}, d)
	os.WriteFile(filepath.Join(in, "outbox", "a.csv"), claims, 0o644)
	fail := true
	failCases(g, &fail)
	g.run("j")
	fail = false
	d.PGP = &config.PGPOut{EncryptTo: k.partnerPub}
	if _, err := g.run("j"); !errors.Is(err, ErrFilesFailed) {
		t.Fatalf("run after the reload: %v", err)
	}
	msg, permanent := lastFailure(t, g)
	if !permanent || !strings.Contains(msg, "the job now delivers the file as a.csv.pgp") {
		t.Errorf("failure %q (permanent %v)", msg, permanent)
	}
	pend, _ := g.ledger.Pending("j")
	if res, err := g.ledger.Retry(pend[0].ID, []ledger.Destination{{Index: 0, Partner: "cases", Dir: "/inbox",
		Name: DeliveredName(g.cfg.Jobs["j"], 0, "a.csv")}}, "ops", ""); err != nil || len(res.Superseded) != 1 {
		t.Fatalf("retry: %+v, %v", res, err)
	}
	for range 2 { // the same on every run
		if _, err := g.run("j"); !errors.Is(err, ErrFilesFailed) {
			t.Fatalf("run after retry: %v", err)
		}
	}
	msg, permanent = lastFailure(t, g)
	if !permanent || !strings.Contains(msg, "no staged output for destination 0") || !strings.Contains(msg, "exchanged files abandon 1") {
		t.Errorf("failure %q (permanent %v)", msg, permanent)
	}
	if ents, _ := os.ReadDir(filepath.Join(out, "inbox")); len(ents) != 0 {
		t.Errorf("inbox holds %d files", len(ents))
	}
}
