package config

import (
	"crypto/ed25519"
	"encoding/pem"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"
)

const (
	testPassword   = "pw-Sup3rGeheim-9876"
	testPassphrase = "pp-Sup3rGeheim-1357"
	testHostKey    = "SHA256:Wuad6I6hqDpiy6PvDb8acUGiRkfqgeVX6/j6V2huHoI"
)

var (
	// testKey is an unencrypted OpenSSH ed25519 private key; testKeyEnc the
	// same key encrypted with testPassphrase. Fixed, so runs compare.
	testKey, testKeyEnc = testKeys()
	// testKnownHosts is the absolute path of testdata/known_hosts.
	testKnownHosts = mustAbs("testdata/known_hosts")
	// baseYAML is a small valid config; tests derive broken ones from it.
	baseYAML = strings.ReplaceAll(baseYAMLTemplate, "/etc/exchanged/known_hosts", testKnownHosts)
)

func testKeys() (plain, enc string) {
	k := ed25519.NewKeyFromSeed([]byte("exchanged-config-test-key-seed-1"))
	b, err := ssh.MarshalPrivateKey(k, "")
	if err != nil {
		panic(err)
	}
	e, err := ssh.MarshalPrivateKeyWithPassphrase(k, "", []byte(testPassphrase))
	if err != nil {
		panic(err)
	}
	return string(pem.EncodeToMemory(b)), string(pem.EncodeToMemory(e))
}

func mustAbs(p string) string {
	a, err := filepath.Abs(p)
	if err != nil {
		panic(err)
	}
	return a
}

// keyMarkers are pieces of the test keys that no error may hold: a line
// of each key's body.
func keyMarkers() []string {
	var m []string
	for _, k := range []string{testKey, testKeyEnc} {
		m = append(m, strings.Split(k, "\n")[2])
	}
	return m
}

const baseYAMLTemplate = `
version: 1
state_dir: /var/lib/exchanged
partners:
  acme:
    role: creditor
    sftp: {host: sftp.acme.example, user: incasso, password: env:TEST_ACME_PW, host_key: "` + testHostKey + `"}
  other:
    role: creditor
    local: {root: /srv/other}
  jansen:
    role: bailiff
    sftp: {host: sftp.jansen.example, user: exchange, private_key: env:TEST_JANSEN_KEY, known_hosts: /etc/exchanged/known_hosts}
  bakker:
    role: lawyer
    local: {root: /srv/bakker}
  cases:
    role: internal
    local: {root: /srv/cases}
jobs:
  acme-in:
    schedule: "*/15 7-19 * * 1-5"
    source: {partner: acme, dir: /outbox, match: "claims_*.csv"}
    transform: {layout: acme-claims, profile: internal}
    rejects: {partner: acme, dir: /inbox/rejects}
    destinations:
      - {partner: cases, dir: /inbox/claims}
  handover:
    schedule: "0 6 * * 1-5"
    source: {partner: cases, dir: /outbox/jansen, done_marker: .done}
    transform: {layout: claim, profile: bailiff}
    destinations:
      - {partner: jansen, dir: /in, done_marker: .done, checksum: true}
layouts:
  acme-claims:
    record: claim
    delimiter: ";"
    charset: windows-1252
    decimal: ","
    date: "02-01-2006"
    columns: {Klantnummer: debtor_ref, Factuurnummer: invoice_number, Bedrag: principal}
    required: [debtor_ref]
`

// setTestEnv sets the variables baseYAML refers to.
func setTestEnv(t *testing.T) {
	t.Helper()
	t.Setenv("TEST_ACME_PW", testPassword)
	t.Setenv("TEST_JANSEN_KEY", testKey)
}

func parseString(t *testing.T, s string) (*Config, error) {
	t.Helper()
	return Parse(strings.NewReader(s))
}

func mustParse(t *testing.T, s string) *Config {
	t.Helper()
	c, err := parseString(t, s)
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return c
}

// noSecrets fails the test if err's text holds a secret value.
func noSecrets(t *testing.T, err error, secrets ...string) {
	t.Helper()
	if err == nil {
		return
	}
	for _, s := range append(append(secrets, testPassword, testPassphrase, "Sup3rGeheim"), keyMarkers()...) {
		if strings.Contains(err.Error(), s) {
			t.Errorf("error text holds a secret value:\n%v", err)
		}
	}
}

// wantErr fails the test unless err holds a line containing want.
func wantErr(t *testing.T, err error, want string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error; want one containing %q", want)
	}
	if !strings.Contains(err.Error(), want) {
		t.Fatalf("error does not contain %q:\n%v", want, err)
	}
	var fe *FieldError
	if !errors.As(err, &fe) && !errors.Is(err, ErrEmpty) {
		t.Errorf("error is not a *FieldError: %T", err)
	}
}

var envRefRE = regexp.MustCompile(`env:([A-Za-z_][A-Za-z0-9_]*)`)

// setEnvRefs sets every env:NAME that file refers to, so it parses.
func setEnvRefs(t *testing.T, file string) map[string]string {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	vals := make(map[string]string)
	for _, m := range envRefRE.FindAllStringSubmatch(string(b), -1) {
		vals[m[1]] = "value-of-" + m[1] + "\n"
		t.Setenv(m[1], vals[m[1]])
	}
	return vals
}

// reflectType returns the dynamic type of v.
func reflectType(v any) reflect.Type { return reflect.TypeOf(v) }
