package config_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/exchanged/exchanged/config"
	"github.com/exchanged/exchanged/internal/gpgtest"
)

// pgpYAML is a job that decrypts from a creditor and encrypts to the case
// system; KEYS is replaced by the key files.
const pgpYAML = `version: 1
state_dir: /var/lib/exchanged
partners:
  acme: {role: creditor, local: {root: /srv/acme}}
  cases: {role: internal, local: {root: /srv/cases}}
jobs:
  in:
    schedule: "*/5 * * * *"
    source:
      partner: acme
      dir: /out
      settle: 1s
      pgp: {decrypt_with: file:OURS, passphrase: env:PGP_TEST_PASS, require_signature_from: file:THEIRS}
    destinations:
      - {partner: cases, dir: /in, pgp: {encrypt_to: file:THEIRS, sign_with: file:OURS, passphrase: env:PGP_TEST_PASS, extension: EXT}}
`

// TestParsePGPKeys: good keys parse; a partner key that expired or was
// revoked is refused at Parse naming the field; no error holds key bytes.
func TestParsePGPKeys(t *testing.T) {
	g := gpgtest.New(t)
	ours := g.GenKey("Agency <a@example>", gpgtest.Curve25519, "pp", "never", time.Time{})
	good := g.GenKey("Good <g@example>", gpgtest.Curve25519, "", "never", time.Time{})
	expired := g.GenKey("Expired <e@example>", gpgtest.Curve25519, "", "1d", time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC))
	revoked := g.GenKey("Revoked <r@example>", gpgtest.Curve25519, "", "never", time.Time{})
	g.Revoke(revoked)
	dir := t.TempDir()
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	oursPath := write("ours.asc", g.ExportSecret(ours, "pp"))
	t.Setenv("PGP_TEST_PASS", "pp")
	keyLine := strings.Split(string(g.ExportSecret(ours, "pp")), "\n")[4]
	parse := func(theirs, ext string) (*config.Config, error) {
		y := strings.NewReplacer("OURS", oursPath, "THEIRS", theirs, "EXT", ext).Replace(pgpYAML)
		return config.Parse(strings.NewReader(y))
	}

	c, err := parse(write("good.asc", g.Export(good)), ".asc")
	if err != nil {
		t.Fatal(err)
	}
	d := c.Jobs["in"].Destinations[0]
	if !d.PGP.Armored() || d.PGP.Ext() != ".asc" {
		t.Errorf("ext %q armored %v", d.PGP.Ext(), d.PGP.Armored())
	}
	if _, _, err := d.PGP.Keys(time.Now()); err != nil {
		t.Error(err)
	}
	if _, from, err := c.Jobs["in"].Source.PGP.Keys(time.Now()); err != nil || from == nil {
		t.Errorf("source keys: %v", err)
	}

	for _, tc := range []struct {
		name, theirs, ext string
		want              []string
	}{
		{"expired", write("expired.asc", g.Export(expired)), ".pgp", []string{
			"jobs.in.source.pgp.require_signature_from: ", "expired on 2020-01-02",
			"jobs.in.destinations[0].pgp.encrypt_to: "}},
		{"revoked", write("revoked.asc", g.Export(revoked)), ".gpg", []string{"is revoked"}},
		{"private as public", oursPath, ".pgp", []string{"holds a private key"}},
		{"not a key", write("junk", []byte("hello")), ".pgp", []string{"is not an OpenPGP key"}},
		{"bad extension", write("good2.asc", g.Export(good)), ".zip", []string{"jobs.in.destinations[0].pgp.extension"}},
	} {
		_, err := parse(tc.theirs, tc.ext)
		if err == nil {
			t.Errorf("%s: parsed", tc.name)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: %v\nwant %q", tc.name, err, w)
			}
		}
		if strings.Contains(err.Error(), keyLine) || strings.Contains(err.Error(), "pp\n") {
			t.Errorf("%s: error holds key material", tc.name)
		}
	}

	t.Setenv("PGP_TEST_PASS", "wrong")
	if _, err := parse(write("good3.asc", g.Export(good)), ".pgp"); err == nil ||
		!strings.Contains(err.Error(), "jobs.in.source.pgp.decrypt_with: ") || !strings.Contains(err.Error(), "passphrase") {
		t.Errorf("wrong passphrase: %v", err)
	}
}

func TestPlainName(t *testing.T) {
	for in, want := range map[string]string{"a.csv.pgp": "a.csv", "a.csv.GPG": "a.csv", "a.asc": "a", ".pgp": ".pgp", "a.csv": "a.csv"} {
		if got := config.PlainName(in); got != want {
			t.Errorf("PlainName(%q) = %q, want %q", in, got, want)
		}
	}
}
