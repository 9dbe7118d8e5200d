package main

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"
)

// testKeys returns a fresh OpenSSH ed25519 private key, unencrypted and
// encrypted with passphrase, and its public key.
func testKeys(t *testing.T, passphrase string) (plain, enc string, pub ssh.PublicKey) {
	t.Helper()
	_, k, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	b, err := ssh.MarshalPrivateKey(k, "")
	if err != nil {
		t.Fatal(err)
	}
	e, err := ssh.MarshalPrivateKeyWithPassphrase(k, "", []byte(passphrase))
	if err != nil {
		t.Fatal(err)
	}
	if pub, err = ssh.NewPublicKey(k.Public()); err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(b)), string(pem.EncodeToMemory(e)), pub
}

// exampleConfig copies the README's example config into a temp dir with
// its known_hosts path pointed at a file there, and returns the copy's
// path and the environment its secret references need.
func exampleConfig(t *testing.T) (string, []string) {
	t.Helper()
	dir := t.TempDir()
	plain, enc, pub := testKeys(t, "pp-example")
	kh := filepath.Join(dir, "known_hosts")
	writeFile(t, kh, []byte("sftp.zuiderzee-energie.example "+string(ssh.MarshalAuthorizedKey(pub))))
	b, err := os.ReadFile("../../testdata/exchanged.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "exchanged.example.yaml")
	pgpDir, err := filepath.Abs("../../testdata/pgp")
	if err != nil {
		t.Fatal(err)
	}
	text := strings.ReplaceAll(string(b), "/etc/exchanged/known_hosts", kh)
	writeFile(t, cfg, []byte(strings.ReplaceAll(text, "/etc/exchanged/pgp/", pgpDir+"/")))
	return cfg, []string{"ZUIDERZEE_SSH_KEY=" + plain, "JANSEN_SSH_KEY=" + enc, "JANSEN_SSH_PASSPHRASE=pp-example", "BAKKER_SFTP_PASSWORD=pw",
		"AGENCY_PGP_PASSPHRASE=example-agency-passphrase"}
}

// TestExampleConfigValidates: the example config the README walks through
// passes "exchanged config validate", transform checks included, with its
// secret references set, and names every job.
func TestExampleConfigValidates(t *testing.T) {
	cfg, env := exampleConfig(t)
	r := exchanged(t, env, "config", "validate", "--config", cfg)
	if r.code != 0 || !strings.Contains(r.stdout, "ok: 4 partner(s), 6 job(s), 2 layout(s)") {
		t.Fatalf("example config: %+v", r)
	}
	for _, job := range []string{"zuiderzee-claims-in", "handover-gdw-jansen", "handover-bakker-advocaten",
		"zuiderzee-payments-out", "zuiderzee-status-out", "gdw-jansen-returns"} {
		if !strings.Contains(r.stdout, job) {
			t.Errorf("validate output lacks job %s:\n%s", job, r.stdout)
		}
	}
	// Without its secrets it is refused, naming each reference, never a value.
	r = exchanged(t, []string{"ZUIDERZEE_SSH_KEY=", "JANSEN_SSH_KEY=", "JANSEN_SSH_PASSPHRASE=", "BAKKER_SFTP_PASSWORD="},
		"config", "validate", "--config", cfg)
	if r.code != exitUsage || !strings.Contains(r.stderr, "BAKKER_SFTP_PASSWORD") {
		t.Fatalf("example config without its secrets: %+v", r)
	}
}
