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
	"github.com/exchanged/exchanged/internal/gpgtest"
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

// A file encrypted to another key than decrypt_with, or signed by another
// key than require_signature_from (the partner rotated its key), may be
// good and the config out of date: it is not rejected but fails
// permanently, a security event with what to do, kept staged and nothing
// of it delivered (though its signature failed only at its end, after
// the outputs were written); once the key is updated it goes through.
func TestPGPKeyMismatchStaysPending(t *testing.T) {
	for _, transformed := range []bool{false, true} {
		t.Run(map[bool]string{false: "pass-through", true: "transform"}[transformed], func(t *testing.T) {
			k := newPGPKeys(t, "never")
			rotated := gpgtest.New(t) // the partner's new key
			rotatedFpr := rotated.GenKey("Partner <p@example>", gpgtest.Curve25519, "", "never", time.Time{})
			rotated.Import(k.partner.Export(k.agencyFpr))
			k.partner.Import(rotated.Export(rotatedFpr))
			in := &config.PGPIn{DecryptWith: k.agencyPriv, RequireSignatureFrom: k.partnerPub}
			g, src, out := localRig(t, config.Source{Settle: settle(time.Second), PGP: in})
			if transformed {
				g.cfg.Jobs["j"].Transform = &config.Transform{Layout: "claim", Profile: "internal"}
			}
			csv := []byte("creditor_ref,debtor_ref,name,principal\nR-1,K-1,Jan Jansen,1.00\n")
			os.WriteFile(filepath.Join(src, "outbox", "rotated.csv.pgp"), rotated.Encrypt(csv, k.agencyFpr, rotatedFpr, "", false), 0o644)
			os.WriteFile(filepath.Join(src, "outbox", "other.csv.pgp"), k.partner.Encrypt(csv, rotatedFpr, k.partnerFpr, "", false), 0o644)
			if _, err := g.run("j"); !errors.Is(err, ErrFilesFailed) {
				t.Fatalf("run: %v", err)
			}
			if n := len(g.logs.FilterMessage("file rejected").All()); n != 0 {
				t.Errorf("%d files rejected", n)
			}
			want := map[string]string{"rotated.csv.pgp": "pgp_wrong_signer", "other.csv.pgp": "pgp_not_encrypted_to_us"}
			for _, e := range g.logs.FilterMessage("file failed").All() {
				m := e.ContextMap()
				msg := toString(m["error"])
				if w := want[toString(m["file"])]; w == "" || !strings.Contains(msg, w) || m["security"] != true || m["permanent"] != true ||
					!strings.Contains(msg, "exchanged files retry") || !strings.Contains(msg, "exchanged files abandon") {
					t.Errorf("file failed %v", m)
				}
				delete(want, toString(m["file"]))
			}
			if len(want) != 0 {
				t.Errorf("no failure for %v", want)
			}
			if ents, _ := os.ReadDir(filepath.Join(out, "inbox")); len(ents) != 0 {
				t.Fatalf("inbox holds %d files", len(ents))
			}
			pend, _ := g.ledger.Pending("j")
			if len(pend) != 2 {
				t.Fatalf("pending %+v", pend)
			}
			for _, f := range pend {
				if _, err := os.Stat(g.runner.Staging().Path(f.ID, f.Name)); err != nil {
					t.Errorf("staged copy of %s: %v", f.Name, err)
				}
			}
			// The partner's new key in the config (a reload: a new block,
			// its keys parsed afresh): its file goes through.
			g.cfg.Jobs["j"].Source.PGP = &config.PGPIn{DecryptWith: k.agencyPriv,
				RequireSignatureFrom: config.Secret{Ref: "file:/partner-new.asc", Value: rotated.Export(rotatedFpr)}}
			if _, err := g.run("j"); !errors.Is(err, ErrFilesFailed) {
				t.Fatalf("run with the new key: %v", err)
			}
			got, err := os.ReadFile(filepath.Join(out, "inbox", "rotated.csv"))
			if err != nil || !strings.Contains(string(got), "R-1") {
				t.Errorf("rotated.csv: %q, %v", got, err)
			}
			if pend, _ := g.ledger.Pending("j"); len(pend) != 1 || pend[0].Name != "other.csv.pgp" {
				t.Errorf("pending %+v", pend)
			}
			g.checkLogs("Jansen")
		})
	}
}

// A job without a transform rejects a file whose signature, by the
// partner's key, fails only at its end (here: made a day ahead of our
// clock, so it does not verify yet), after the whole plaintext was written
// into its output: the output is discarded, nothing delivered, staging
// removed.
func TestPGPPassThroughSignatureFailsAtEnd(t *testing.T) {
	k := newPGPKeys(t, "never")
	g, in, out := localRig(t, config.Source{Settle: settle(time.Second), PGP: &config.PGPIn{
		DecryptWith: k.agencyPriv, RequireSignatureFrom: k.partnerPub}})
	msg, _, err := k.partner.Run(claims, "--faked-system-time", time.Now().Add(24*time.Hour).UTC().Format("20060102T150405"),
		"--recipient", k.agencyFpr, "--local-user", k.partnerFpr, "--sign", "--encrypt")
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(in, "outbox", "a.csv.pgp"), msg, 0o644)
	if res, err := g.run("j"); err != nil || res.Files != 1 || res.Delivered != 0 {
		t.Fatalf("run = %+v, %v", res, err)
	}
	ev := g.logs.FilterMessage("file rejected").All()
	if len(ev) != 1 || ev[0].ContextMap()["reason"] != "pgp_bad_signature" || ev[0].ContextMap()["security"] != true {
		t.Fatalf("file rejected events %v", ev)
	}
	if ents, _ := os.ReadDir(filepath.Join(out, "inbox")); len(ents) != 0 {
		t.Errorf("inbox holds %d files", len(ents))
	}
	g.stagingEmpty()
}

// A failure to read the staged copy of a file from a partner (here: a
// chunk of it altered at rest, failing staging's authentication midway)
// is no verdict on the file: it fails, permanently, and stays pending
// with its staged copy; it is not rejected as pgp_corrupt (which would
// remove the only copy).
func TestPGPStagedReadErrorNotRejected(t *testing.T) {
	k := newPGPKeys(t, "never")
	rotated := gpgtest.New(t)
	rotatedFpr := rotated.GenKey("Partner <p@example>", gpgtest.Curve25519, "", "never", time.Time{})
	rotated.Import(k.partner.Export(k.agencyFpr))
	g, in, out := localRig(t, config.Source{Settle: settle(time.Second), PGP: &config.PGPIn{DecryptWith: k.agencyPriv, RequireSignatureFrom: k.partnerPub}})
	big := bytes.Repeat(claims, 400<<10/len(claims)+1) // several of staging's 64 KiB chunks
	msg, _, err := rotated.Run(big, "--compress-algo", "none", "--recipient", k.agencyFpr, "--local-user", rotatedFpr, "--sign", "--encrypt")
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(in, "outbox", "a.csv.pgp"), msg, 0o644)
	g.run("j") // signed by a key the config does not know yet: stays staged
	pend, _ := g.ledger.Pending("j")
	if len(pend) != 1 {
		t.Fatalf("pending %+v", pend)
	}
	p := g.runner.Staging().Path(pend[0].ID, pend[0].Name)
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)/2] ^= 1
	os.WriteFile(p, b, 0o600)
	g.cfg.Jobs["j"].Source.PGP = &config.PGPIn{DecryptWith: k.agencyPriv,
		RequireSignatureFrom: config.Secret{Ref: "file:/partner-new.asc", Value: rotated.Export(rotatedFpr)}}
	if _, err := g.run("j"); !errors.Is(err, ErrFilesFailed) {
		t.Fatalf("run: %v", err)
	}
	if ev := g.logs.FilterMessage("file rejected").All(); len(ev) != 0 {
		t.Fatalf("rejected: %v", ev[0].ContextMap())
	}
	msg2, permanent := lastFailure(t, g)
	if !permanent || !strings.Contains(msg2, "staging: file 1") || strings.Contains(msg2, "pgp_") {
		t.Errorf("failure %q (permanent %v)", msg2, permanent)
	}
	if _, err := os.Stat(p); err != nil {
		t.Errorf("staged copy: %v", err)
	}
	if ents, _ := os.ReadDir(filepath.Join(out, "inbox")); len(ents) != 0 {
		t.Errorf("inbox holds %d files", len(ents))
	}
}
