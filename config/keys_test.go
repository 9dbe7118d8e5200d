package config

import (
	"crypto/ed25519"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"
)

// What a dial would refuse, Parse refuses first, naming the field and
// never the key, the passphrase or a line of the file at fault.
func TestCredentialChecks(t *testing.T) {
	setTestEnv(t)
	dir := t.TempDir()
	pub, err := ssh.NewPublicKey(ed25519.NewKeyFromSeed([]byte("exchanged-config-test-key-seed-1")).Public())
	if err != nil {
		t.Fatal(err)
	}
	keyFile := writeSecret(t, testKey, 0o600)
	pemPub := string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: []byte("Sup3rGeheim-not-a-key")}))
	damaged := strings.Replace(testKey, strings.Split(testKey, "\n")[2], "AAAA"+strings.Split(testKey, "\n")[2][4:20], 1)
	khKey := filepath.Join(dir, "kh-key")
	if err := os.WriteFile(khKey, []byte(testKey), 0o600); err != nil {
		t.Fatal(err)
	}
	khDir := filepath.Join(dir, "khdir")
	if err := os.Mkdir(khDir, 0o700); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		env  string // TEST_KEY's value; the key is then env:TEST_KEY
		kv   string // replaces "private_key: env:TEST_JANSEN_KEY"
		kh   string // replaces the known_hosts path
		want string
	}{
		{name: "public key", env: string(ssh.MarshalAuthorizedKey(pub)),
			want: "partners.jansen.sftp.private_key: env:TEST_KEY is a public key (ssh-ed25519), not a private key"},
		{name: "PEM public key", env: pemPub,
			want: "partners.jansen.sftp.private_key: env:TEST_KEY is a PEM PUBLIC KEY, not a private key"},
		{name: "encrypted, no passphrase", env: testKeyEnc,
			want: "partners.jansen.sftp.private_key: env:TEST_KEY is encrypted; set passphrase"},
		{name: "wrong passphrase", env: testKeyEnc, kv: "private_key: env:TEST_KEY, passphrase: env:TEST_ACME_PW",
			want: "partners.jansen.sftp.passphrase: env:TEST_ACME_PW does not decrypt private_key env:TEST_KEY"},
		{name: "passphrase, key not encrypted", env: testKey, kv: "private_key: env:TEST_KEY, passphrase: env:TEST_ACME_PW",
			want: "partners.jansen.sftp.passphrase: set, but private_key env:TEST_KEY is not encrypted; remove passphrase"},
		{name: "env holds a path", env: keyFile,
			want: "partners.jansen.sftp.private_key: env:TEST_KEY holds what looks like a path, not a key; use file:/path/to/key instead"},
		{name: "env holds a path and newline", env: "/run/secrets/Sup3rGeheim_key\n",
			want: "private_key: env:TEST_KEY holds what looks like a path"},
		{name: "garbage", env: "Sup3rGeheim garbage\x01\xff",
			want: "partners.jansen.sftp.private_key: env:TEST_KEY is not a private key"},
		{name: "damaged", env: damaged,
			want: "partners.jansen.sftp.private_key: env:TEST_KEY cannot be read as a PEM OPENSSH PRIVATE KEY"},
		{name: "PuTTY", env: "PuTTY-User-Key-File-3: ssh-ed25519\nPrivate-Lines: 1\nSup3rGeheim\n",
			want: "is a PuTTY key"},
		{name: "known_hosts missing", env: testKey, kh: filepath.Join(dir, "nope"),
			want: "partners.jansen.sftp.known_hosts: " + filepath.Join(dir, "nope") + " does not exist"},
		{name: "known_hosts a directory", env: testKey, kh: khDir,
			want: "partners.jansen.sftp.known_hosts: " + khDir + " is a directory"},
		{name: "known_hosts holds a key", env: testKey, kh: khKey,
			want: "partners.jansen.sftp.known_hosts: " + khKey + ": line 1 is not a known_hosts entry"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("TEST_KEY", tc.env)
			kv := tc.kv
			if kv == "" {
				kv = "private_key: env:TEST_KEY"
			}
			y := strings.Replace(baseYAML, "private_key: env:TEST_JANSEN_KEY", kv, 1)
			if tc.kh != "" {
				y = strings.Replace(y, testKnownHosts, tc.kh, 1)
			}
			_, err := parseString(t, y)
			wantErr(t, err, tc.want)
			noSecrets(t, err, tc.env, strings.TrimSpace(tc.env))
		})
	}
}

// An encrypted key with its passphrase parses, from env: and file:.
func TestCredentialsEncryptedKey(t *testing.T) {
	setTestEnv(t)
	t.Setenv("TEST_KEY", testKeyEnc)
	pp := writeSecret(t, testPassphrase+"\n", 0o600)
	c := mustParse(t, strings.Replace(baseYAML, "private_key: env:TEST_JANSEN_KEY",
		"private_key: env:TEST_KEY, passphrase: file:"+pp, 1))
	s, err := c.Partners["jansen"].SFTP.Signer()
	if err != nil {
		t.Fatal(err)
	}
	if s.PublicKey().Type() != ssh.KeyAlgoED25519 {
		t.Errorf("signer type %s", s.PublicKey().Type())
	}
}

// Schedules are read by the scheduler's parser: what it refuses, Parse
// refuses.
func TestScheduleOneParser(t *testing.T) {
	setTestEnv(t)
	for _, tc := range []struct{ spec, want string }{
		{"0 0 30 2 *", "jobs.acme-in.schedule: never fires"},
		{"0 0 31 4 *", "jobs.acme-in.schedule: never fires"},
		{"@every 0s", "jobs.acme-in.schedule: @every needs an interval of at least 1s"},
		{"TZ=UTC 0 6 * * *", "jobs.acme-in.schedule: a time zone prefix is not supported"},
		{"0 6 * *", "jobs.acme-in.schedule: expected exactly 5 fields"},
	} {
		t.Run(tc.spec, func(t *testing.T) {
			_, err := parseString(t, strings.Replace(baseYAML, `"*/15 7-19 * * 1-5"`, `"`+tc.spec+`"`, 1))
			wantErr(t, err, tc.want)
		})
	}
	// A leap day fires, every four years.
	mustParse(t, strings.Replace(baseYAML, `"*/15 7-19 * * 1-5"`, `"0 0 29 2 *"`, 1))
}
