package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// LoadLayouts reads a config whose secrets, key and known_hosts files are
// absent, returns its layouts and nothing else, and still refuses an
// unknown key anywhere in the file and a bad layout.
func TestLoadLayouts(t *testing.T) {
	dir := t.TempDir()
	write := func(body string) string {
		p := filepath.Join(dir, "c.yaml")
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	base := `version: 1
state_dir: /nonexistent
partners:
  acme: {role: creditor, sftp: {host: h.example, user: u, private_key: "file:/nonexistent/key", password: "env:EXCHANGED_TEST_UNSET", known_hosts: /nonexistent/kh}}
jobs: {}
layouts:
  acme-claims: {record: claim, creditor: acme, columns: {Factuur: creditor_ref}}
`
	c, err := LoadLayouts(write(base))
	if err != nil {
		t.Fatal(err)
	}
	if l := c.Layouts["acme-claims"]; l == nil || l.Name != "acme-claims" || l.Charset != DefaultCharset || c.Partners != nil || c.Jobs != nil {
		t.Fatalf("LoadLayouts = %+v", c)
	}
	if _, err := Load(write(base)); err == nil || !strings.Contains(err.Error(), "private_key") {
		t.Fatalf("Load must still read the secrets: %v", err)
	}
	for body, want := range map[string]string{
		base + "bogus: 1\n": "bogus: unknown key",
		strings.Replace(base, "creditor: acme,", "creditor: nobody,", 1): `layouts.acme-claims.creditor: no partner "nobody"`,
		strings.Replace(base, "record: claim", "record: invoice", 1):     `layouts.acme-claims.record: must be claim, payment or status`,
	} {
		if _, err := LoadLayouts(write(body)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("want %q, got %v", want, err)
		}
	}
}
