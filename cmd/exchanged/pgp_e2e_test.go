package main

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/exchanged/exchanged/internal/gpgtest"
)

// TestOnceOpenPGPWithGPG runs `exchanged once` with GnuPG as the partner:
// files the partner's gpg encrypted and signed are decrypted, verified,
// transformed and delivered; an unsigned one is rejected whole with its
// reason, a security event, and a reject report; one signed by another
// key (maybe the partner's new one) fails permanently, a security event,
// and stays pending; nothing of either is delivered; a file to the partner is
// encrypted and signed so that its gpg decrypts and verifies it, with the
// .sha256 sidecar and done marker of the delivered (encrypted) name.
func TestOnceOpenPGPWithGPG(t *testing.T) {
	agency, partner, other := gpgtest.New(t), gpgtest.New(t), gpgtest.New(t)
	const pass = "agency pass"
	agencyFpr := agency.GenKey("Agency <agency@example>", gpgtest.RSA, pass, "never", time.Time{})
	partnerFpr := partner.GenKey("Acme <acme@example>", gpgtest.Curve25519, "", "never", time.Time{})
	otherFpr := other.GenKey("Mallory <m@example>", gpgtest.Curve25519, "", "never", time.Time{})
	partner.Import(agency.Export(agencyFpr))
	other.Import(agency.Export(agencyFpr))

	work := t.TempDir()
	for _, d := range []string{"acme/outbox", "acme/rejects", "acme/in", "cases/inbox", "cases/outbox"} {
		if err := os.MkdirAll(filepath.Join(work, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	writeFile(t, filepath.Join(work, "keys/agency.asc"), agency.ExportSecret(agencyFpr, pass))
	writeFile(t, filepath.Join(work, "keys/acme.asc"), partner.Export(partnerFpr))
	cfg := filepath.Join(work, "exchanged.yaml")
	writeFile(t, cfg, []byte(fmt.Sprintf(`version: 1
state_dir: %[1]s/state
http: {listen: ""}
partners:
  acme: {role: creditor, local: {root: %[1]s/acme}}
  cases: {role: internal, local: {root: %[1]s/cases}}
jobs:
  claims-in:
    schedule: "@yearly"
    source:
      partner: acme
      dir: /outbox
      match: "claims_*.csv.pgp"
      done_marker: ".done"
      pgp: {decrypt_with: file:%[1]s/keys/agency.asc, passphrase: env:AGENCY_PGP_PASS, require_signature_from: file:%[1]s/keys/acme.asc}
    transform: {layout: claim, profile: internal}
    rejects: {partner: acme, dir: /rejects}
    destinations: [{partner: cases, dir: /inbox}]
  status-out:
    schedule: "@yearly"
    source: {partner: cases, dir: /outbox, match: "*.csv", done_marker: ".done"}
    destinations:
      - partner: acme
        dir: /in
        checksum: true
        done_marker: ".ok"
        pgp: {encrypt_to: file:%[1]s/keys/acme.asc, sign_with: file:%[1]s/keys/agency.asc, passphrase: env:AGENCY_PGP_PASS}
`, work)))
	env := []string{"AGENCY_PGP_PASS=" + pass}
	claims := "creditor_ref,debtor_ref,name,principal\nR-1,K-1,Jan Jansen,1.00\nR-2,K-2,Piet Pieters,2.00\n"
	put := func(p string, data []byte) {
		writeFile(t, filepath.Join(work, p), data)
		writeFile(t, filepath.Join(work, p+".done"), nil)
	}
	put("acme/outbox/claims_1.csv.pgp", partner.Encrypt([]byte(claims), agencyFpr, partnerFpr, "", false))
	put("acme/outbox/claims_2.csv.pgp", partner.Encrypt([]byte(claims), agencyFpr, "", "", true))
	put("acme/outbox/claims_3.csv.pgp", other.Encrypt([]byte(claims), agencyFpr, otherFpr, "", false))
	status := "creditor_ref,status\nR-1,paid\n"
	put("cases/outbox/status_1.csv", []byte(status))

	r := exchanged(t, env, "once", "--config", cfg, "claims-in", "status-out")
	if r.code == 0 || !strings.Contains(r.stderr, "1 of 2 job(s) failed") {
		t.Fatalf("once: %+v, want claims-in failed (claims_3)", r)
	}
	logs := r.stdout + r.stderr

	// In: the signed file is decrypted and delivered under its plain name.
	got, err := os.ReadFile(filepath.Join(work, "cases/inbox/claims_1.csv"))
	if err != nil || !strings.Contains(string(got), "Jan Jansen") {
		t.Errorf("claims_1.csv delivered: %q, %v", got, err)
	}
	ents, _ := os.ReadDir(filepath.Join(work, "cases/inbox"))
	if len(ents) != 1 {
		t.Errorf("cases/inbox holds %d files, want only claims_1.csv", len(ents))
	}
	if !logLine(logs, `"msg":"file failed"`, `"file":"claims_3.csv.pgp"`, `"permanent":true`, `"security":true`, `pgp_wrong_signer`, `exchanged files retry`) {
		t.Errorf("no permanent failure, a security event, for claims_3 in\n%s", logs)
	}
	if _, err := os.Stat(filepath.Join(work, "acme/rejects/claims_3.rejects.csv")); !os.IsNotExist(err) {
		t.Errorf("claims_3 reject report: %v", err)
	}
	for name, reason := range map[string]string{"claims_2": "pgp_unsigned"} {
		rep, err := os.ReadFile(filepath.Join(work, "acme/rejects", name+".rejects.csv"))
		if err != nil || !strings.HasPrefix(string(rep), "line,reference,column,reason,verwacht,expected\n0,,,"+reason+",verwacht ") ||
			strings.Contains(string(rep), "Jansen") {
			t.Errorf("%s reject report: %q, %v", name, rep, err)
		}
		if !logLine(logs, `"file":"`+name+`.csv.pgp"`, `"reason":"`+reason+`"`, `"security":true`, `"outcome":"rejected"`) {
			t.Errorf("no security event for %s (%s) in\n%s", name, reason, logs)
		}
	}
	if strings.Contains(logs, "Jansen") || strings.Contains(logs, "BEGIN PGP") {
		t.Error("logs hold personal data or key material")
	}

	// Out: the partner's gpg decrypts and verifies what was delivered.
	enc, err := os.ReadFile(filepath.Join(work, "acme/in/status_1.csv.pgp"))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(enc), "R-1,paid") {
		t.Error("delivered file holds plaintext")
	}
	d, err := partner.Decrypt(enc, "")
	if err != nil || string(d.Plain) != status || d.ValidSig != agencyFpr {
		t.Errorf("gpg: %q, signed by %q, %v", d.Plain, d.ValidSig, err)
	}
	sum := sha256.Sum256(enc)
	side, err := os.ReadFile(filepath.Join(work, "acme/in/status_1.csv.pgp.sha256"))
	if want := hex.EncodeToString(sum[:]) + "  status_1.csv.pgp\n"; err != nil || string(side) != want {
		t.Errorf("sidecar %q, want %q (%v)", side, want, err)
	}
	if _, err := os.Stat(filepath.Join(work, "acme/in/status_1.csv.pgp.ok")); err != nil {
		t.Errorf("done marker: %v", err)
	}
	if !logLine(logs, `"msg":"file delivered"`, `"file":"/in/status_1.csv.pgp"`, `"sha256":"`+hex.EncodeToString(sum[:])+`"`) {
		t.Errorf("no delivery logged with the encrypted file's sha256:\n%s", logs)
	}

	// The partner's key, replaced by one that has expired: validate
	// refuses the config, naming both fields that use it and the date.
	expired := partner.GenKey("Acme old <acme@example>", gpgtest.Curve25519, "", "1d", time.Date(2021, 3, 1, 0, 0, 0, 0, time.UTC))
	writeFile(t, filepath.Join(work, "keys/acme.asc"), partner.Export(expired))
	r = exchanged(t, env, "config", "validate", "--config", cfg)
	if r.code != exitUsage || !strings.Contains(r.stderr, "jobs.claims-in.source.pgp.require_signature_from") ||
		!strings.Contains(r.stderr, "jobs.status-out.destinations[0].pgp.encrypt_to") || !strings.Contains(r.stderr, "expired on 2021-03-02") {
		t.Errorf("validate with an expired partner key: %+v", r)
	}
}

// logLine reports whether one line of logs holds every part.
func logLine(logs string, parts ...string) bool {
	for _, line := range strings.Split(logs, "\n") {
		ok := true
		for _, p := range parts {
			ok = ok && strings.Contains(line, p)
		}
		if ok {
			return true
		}
	}
	return false
}
