package exchange

import (
	"bytes"
	"errors"
	"io"
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

// pgpKeys are a partner's gpg and the agency's keys as secrets.
type pgpKeys struct {
	partner                *gpgtest.GPG
	partnerFpr, agencyFpr  string
	partnerPub, agencyPriv config.Secret
}

func newPGPKeys(t *testing.T, expire string) *pgpKeys {
	t.Helper()
	agency, partner := gpgtest.New(t), gpgtest.New(t)
	k := &pgpKeys{partner: partner}
	k.agencyFpr = agency.GenKey("Agency <a@example>", gpgtest.Curve25519, "", "never", time.Time{})
	k.partnerFpr = partner.GenKey("Partner <p@example>", gpgtest.Curve25519, "", expire, time.Time{})
	partner.Import(agency.Export(k.agencyFpr))
	k.partnerPub = config.Secret{Ref: "file:/partner.asc", Value: partner.Export(k.partnerFpr)}
	k.agencyPriv = config.Secret{Ref: "file:/agency.asc", Value: agency.ExportSecret(k.agencyFpr, "")}
	return k
}

// An upload that fails after the file was encrypted into staging is
// resumed with the very bytes staged: no second encryption (which would
// differ, each under its own session key), and the ledger's sha256 is the
// delivered file's. The partner's gpg decrypts and verifies it.
func TestPGPResumeSendsStagedCiphertext(t *testing.T) {
	k := newPGPKeys(t, "never")
	g, in, out := localRig(t, config.Source{Settle: settle(time.Second)}, &config.Destination{Partner: "cases", Dir: "/inbox",
		Checksum: true, PGP: &config.PGPOut{EncryptTo: k.partnerPub, SignWith: k.agencyPriv, Extension: ".gpg"}})
	os.WriteFile(filepath.Join(in, "outbox", "a.csv"), claims, 0o644)
	fail := true
	g.runner.wrapEndpoint = func(partner string, ep endpoint.Endpoint) endpoint.Endpoint {
		if partner == "cases" && fail {
			return failWrite{Endpoint: ep, after: 20}
		}
		return ep
	}
	g.runner.Retry.Attempts = 1
	if _, err := g.run("j"); !errors.Is(err, ErrFilesFailed) {
		t.Fatalf("first run: %v", err)
	}
	pend, _ := g.ledger.Pending("j")
	if len(pend) != 1 || pend[0].State != ledger.StateTransformed {
		t.Fatalf("pending = %+v", pend)
	}
	sf, err := g.runner.Staging().Open(pend[0].ID, ".out-0-cases.gpg")
	if err != nil {
		t.Fatal(err)
	}
	staged, err := io.ReadAll(sf) // unsealed: what staging holds under its own encryption
	sf.Close()
	if err != nil || bytes.Contains(staged, []byte("de Vries")) {
		t.Fatalf("staged output: %v (or plaintext)", err)
	}
	fail = false
	if _, err := g.run("j"); err != nil {
		t.Fatalf("second run: %v", err)
	}
	got, err := os.ReadFile(filepath.Join(out, "inbox", "a.csv.gpg"))
	if err != nil || !bytes.Equal(got, staged) {
		t.Fatalf("delivered %d bytes (%v), want the %d staged", len(got), err, len(staged))
	}
	dels, _ := g.ledger.Deliveries(pend[0].ID)
	if len(dels) != 1 || dels[0].Name != "a.csv.gpg" || dels[0].SHA256 != sum(got) || dels[0].Size != int64(len(got)) {
		t.Errorf("deliveries = %+v, want a.csv.gpg with the delivered sha256", dels)
	}
	if side, _ := os.ReadFile(filepath.Join(out, "inbox", "a.csv.gpg.sha256")); string(side) != sum(got)+"  a.csv.gpg\n" {
		t.Errorf("sidecar %q", side)
	}
	d, err := k.partner.Decrypt(got, "")
	if err != nil || !bytes.Equal(d.Plain, claims) || d.ValidSig != k.agencyFpr {
		t.Errorf("gpg: %v, signed by %q", err, d.ValidSig)
	}
	g.stagingEmpty()
	g.checkLogs("de Vries", "NL91ABNA0417164300")
}

// A job without a transform decrypts what the partner's gpg encrypted and
// delivers it under the name without .pgp; each bad file is rejected
// whole with its reason (a security event where it is one), nothing of it
// delivered, its staging removed. (A file encrypted to another key is not
// rejected: see TestPGPKeyMismatchStaysPending.)
func TestPGPDecryptPassThrough(t *testing.T) {
	k := newPGPKeys(t, "never")
	g, in, out := localRig(t, config.Source{Settle: settle(time.Second), PGP: &config.PGPIn{
		DecryptWith: k.agencyPriv, RequireSignatureFrom: k.partnerPub}})
	good := k.partner.Encrypt(claims, k.agencyFpr, k.partnerFpr, "", true)
	flipped := k.partner.Encrypt(claims, k.agencyFpr, k.partnerFpr, "", false)
	flipped[len(flipped)-30] ^= 0x40
	truncated := k.partner.Encrypt(claims, k.agencyFpr, k.partnerFpr, "", false)
	truncated = truncated[:len(truncated)-25]
	files := map[string][]byte{
		"good.csv.asc":      good,
		"flipped.csv.pgp":   flipped,
		"truncated.csv.pgp": truncated,
		"unsigned.csv.gpg":  k.partner.Encrypt(claims, k.agencyFpr, "", "", false),
	}
	for name, b := range files {
		os.WriteFile(filepath.Join(in, "outbox", name), b, 0o644)
	}
	res, err := g.run("j")
	if err != nil || res.Files != 4 || res.Delivered != 1 {
		t.Fatalf("run = %+v, %v", res, err)
	}
	got, err := os.ReadFile(filepath.Join(out, "inbox", "good.csv"))
	if err != nil || !bytes.Equal(got, claims) {
		t.Errorf("good.csv = %q, %v", got, err)
	}
	if ents, _ := os.ReadDir(filepath.Join(out, "inbox")); len(ents) != 1 {
		t.Errorf("inbox holds %d files, want 1", len(ents))
	}
	want := map[string]struct {
		reason   string
		security bool
	}{
		"flipped.csv.pgp":   {"pgp_corrupt", false},
		"truncated.csv.pgp": {"pgp_corrupt", false},
		"unsigned.csv.gpg":  {"pgp_unsigned", true},
	}
	for _, e := range g.logs.FilterMessage("file rejected").All() {
		m := e.ContextMap()
		w, ok := want[toString(m["file"])]
		if !ok || m["reason"] != w.reason || m["security"] != w.security {
			t.Errorf("rejected %v: reason %v security %v, want %+v", m["file"], m["reason"], m["security"], w)
		}
		delete(want, toString(m["file"]))
	}
	if len(want) != 0 {
		t.Errorf("not rejected: %v", want)
	}
	pend, _ := g.ledger.Pending("j")
	if len(pend) != 0 {
		t.Errorf("pending: %+v", pend)
	}
	g.stagingEmpty()
	g.checkLogs("de Vries", "NL91ABNA0417164300")
}

// A partner key that expired since the config was read is refused when
// used: the file fails, stays staged, and nothing is delivered.
func TestPGPKeyExpiredAtRunTime(t *testing.T) {
	k := newPGPKeys(t, "1d")
	g, in, out := localRig(t, config.Source{Settle: settle(time.Second)}, &config.Destination{Partner: "cases", Dir: "/inbox",
		PGP: &config.PGPOut{EncryptTo: k.partnerPub}})
	os.WriteFile(filepath.Join(in, "outbox", "a.csv"), claims, 0o644)
	if res, err := g.run("j"); err != nil || res.Delivered != 1 {
		t.Fatalf("run while the key lives: %+v, %v", res, err)
	}
	// Two days on, the key (kept parsed by the runner) has expired.
	g.runner.Now = func() time.Time { return time.Now().Add(72 * time.Hour) }
	os.WriteFile(filepath.Join(in, "outbox", "b.csv"), claims, 0o644)
	if _, err := g.run("j"); !errors.Is(err, ErrFilesFailed) {
		t.Fatalf("run: %v", err)
	}
	ev := g.logs.FilterMessage("file failed").All()
	if len(ev) != 1 || !strings.Contains(toString(ev[0].ContextMap()["error"]), "expired on") {
		t.Fatalf("file failed events: %v", ev)
	}
	if _, err := os.Stat(filepath.Join(out, "inbox", "b.csv.pgp")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("b.csv.pgp delivered with an expired key: %v", err)
	}
	if pend, _ := g.ledger.Pending("j"); len(pend) != 1 {
		t.Errorf("pending = %+v", pend)
	}
}

// A job with a transform encrypts each destination's output as it is
// written: the partner's gpg reads the profiled file, ASCII-armored.
func TestPGPTransformEncrypts(t *testing.T) {
	k := newPGPKeys(t, "never")
	g, in, out := localRig(t, config.Source{Settle: settle(time.Second)}, &config.Destination{Partner: "cases", Dir: "/inbox",
		PGP: &config.PGPOut{EncryptTo: k.partnerPub, SignWith: k.agencyPriv, Extension: ".asc"}})
	g.cfg.Jobs["j"].Transform = &config.Transform{Layout: "claim", Profile: "internal"}
	csv := "creditor_ref,debtor_ref,name,principal\nR-1,K-1,Jan Jansen,1.00\n"
	os.WriteFile(filepath.Join(in, "outbox", "c.csv"), []byte(csv), 0o644)
	if res, err := g.run("j"); err != nil || res.Delivered != 1 {
		t.Fatalf("run = %+v, %v", res, err)
	}
	got, err := os.ReadFile(filepath.Join(out, "inbox", "c.csv.asc"))
	if err != nil || !bytes.HasPrefix(got, []byte("-----BEGIN PGP MESSAGE-----")) {
		t.Fatalf("c.csv.asc: %v %.40q", err, got)
	}
	d, err := k.partner.Decrypt(got, "")
	if err != nil || !strings.Contains(string(d.Plain), "Jan Jansen") || d.ValidSig != k.agencyFpr {
		t.Errorf("gpg: %v, signed by %q, %d bytes", err, d.ValidSig, len(d.Plain))
	}
	g.stagingEmpty()
	g.checkLogs("Jan Jansen")
}

// Names: a destination that encrypts adds its extension (counted against
// the name limit, so such a file is refused at the source rather than
// failing at the partner); a source that decrypts drops its own.
func TestPGPNames(t *testing.T) {
	enc := &config.Destination{Partner: "p", Dir: "/in", PGP: &config.PGPOut{Extension: ".gpg"}}
	plain := &config.Destination{Partner: "q", Dir: "/in"}
	j := &config.Job{Destinations: []*config.Destination{enc, plain}}
	if got := deliveredName(j, enc, "a.csv"); got != "a.csv.gpg" {
		t.Errorf("encrypted: %q", got)
	}
	if got := deliveredName(j, plain, "a.csv"); got != "a.csv" {
		t.Errorf("plain: %q", got)
	}
	long := strings.Repeat("x", endpoint.MaxName-3)
	if err := deliverable(j, long); !errors.Is(err, ErrNameTooLong) || !strings.Contains(err.Error(), "destination 0") {
		t.Errorf("deliverable(%d bytes) = %v, want destination 0 too long", len(long), err)
	}
	j.Source.PGP = &config.PGPIn{}
	if got := deliveredName(j, plain, "a.csv.pgp"); got != "a.csv" {
		t.Errorf("decrypted: %q", got)
	}
	if got := deliveredName(j, enc, "a.csv.asc"); got != "a.csv.gpg" {
		t.Errorf("decrypted and encrypted again: %q", got)
	}
	if got := reportName(plainName(j, "claims.csv.pgp")); got != "claims.rejects.csv" {
		t.Errorf("report name: %q", got)
	}
}
