// Package gpgtest runs GnuPG (Debian's gpg) as the real OpenPGP peer in
// tests: each GPG has its own GNUPGHOME under a short /tmp directory (the
// agent's socket path must be short), generates keys, encrypts, signs,
// decrypts and verifies, and kills its gpg-agent when the test ends.
// Without gpg the test is skipped, except under CI=true, where it fails.
package gpgtest

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/exchanged/exchanged/internal/sshdtest/peer"
)

// Algorithms for GenKey: a primary signing key and an encryption subkey.
const (
	RSA        = "rsa3072"   // RSA 3072 / RSA 3072
	Curve25519 = "ed25519"   // Ed25519 / Cv25519
	timeout    = time.Minute // one gpg call
)

// GPG is one GnuPG home.
type GPG struct {
	tb   testing.TB
	Home string
}

// New returns a GPG with a fresh home, removed (its agent killed first)
// when tb ends.
func New(tb testing.TB) *GPG {
	tb.Helper()
	if _, err := exec.LookPath("gpg"); err != nil {
		peer.Unavailable(tb, "gpgtest: gpg", err)
		return nil
	}
	home, err := os.MkdirTemp("/tmp", "gpg")
	if err != nil {
		tb.Fatal(err)
	}
	if err := os.Chmod(home, 0o700); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = exec.CommandContext(ctx, "gpgconf", "--homedir", home, "--kill", "all").Run()
		os.RemoveAll(home)
	})
	return &GPG{tb: tb, Home: home}
}

// Run runs gpg in batch mode on g's home with stdin, and returns stdout
// and what gpg wrote on its status fd (2, with its messages).
func (g *GPG) Run(stdin []byte, args ...string) (stdout, status []byte, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	all := append([]string{"--homedir", g.Home, "--batch", "--no-tty", "--pinentry-mode", "loopback",
		"--trust-model", "always", "--status-fd", "2"}, args...)
	cmd := exec.CommandContext(ctx, "gpg", all...)
	cmd.Stdin = bytes.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err = cmd.Run()
	if err != nil {
		err = fmt.Errorf("gpg %s: %w: %s", strings.Join(args, " "), err, errb.Bytes())
	}
	return out.Bytes(), errb.Bytes(), err
}

// must runs gpg and fails the test on error.
func (g *GPG) must(stdin []byte, args ...string) []byte {
	g.tb.Helper()
	out, _, err := g.Run(stdin, args...)
	if err != nil {
		g.tb.Fatal(err)
	}
	return out
}

var keyCreatedRE = regexp.MustCompile(`KEY_CREATED [BP] ([0-9A-F]{40})`)

// GenKey generates a key for uid with algo (RSA or Curve25519) and an
// encryption subkey, protected by passphrase ("" for none), expiring
// after expire ("never", "1y", "seconds=N"), and returns its fingerprint.
// With at set, gpg is told it is that time (--faked-system-time): a key
// made in the past with a short life is expired now.
func (g *GPG) GenKey(uid, algo, passphrase, expire string, at time.Time) string {
	g.tb.Helper()
	enc := "cv25519"
	if algo == RSA {
		enc = RSA
	}
	var faked []string
	if !at.IsZero() {
		faked = []string{"--faked-system-time", at.UTC().Format("20060102T150405")}
	}
	pass := []string{"--passphrase", passphrase}
	_, status, err := g.Run(nil, append(append(faked, pass...), "--quick-gen-key", uid, algo, "sign,cert", expire)...)
	if err != nil {
		g.tb.Fatal(err)
	}
	m := keyCreatedRE.FindSubmatch(status)
	if m == nil {
		g.tb.Fatalf("gpgtest: no KEY_CREATED in %s", status)
	}
	fpr := string(m[1])
	if _, _, err := g.Run(nil, append(append(faked, pass...), "--quick-add-key", fpr, enc, "encr", expire)...); err != nil {
		g.tb.Fatal(err)
	}
	return fpr
}

// Export returns the armored public key fpr.
func (g *GPG) Export(fpr string) []byte {
	g.tb.Helper()
	return g.must(nil, "--armor", "--export", fpr)
}

// ExportSecret returns the armored private key fpr, protected by its
// passphrase as generated.
func (g *GPG) ExportSecret(fpr, passphrase string) []byte {
	g.tb.Helper()
	return g.must(nil, "--passphrase", passphrase, "--armor", "--export-secret-keys", fpr)
}

// Import imports keys.
func (g *GPG) Import(keys []byte) {
	g.tb.Helper()
	g.must(keys, "--import")
}

// Revoke revokes key fpr with the revocation certificate gpg made when it
// generated the key.
func (g *GPG) Revoke(fpr string) {
	g.tb.Helper()
	b, err := os.ReadFile(filepath.Join(g.Home, "openpgp-revocs.d", fpr+".rev"))
	if err != nil {
		g.tb.Fatal(err)
	}
	// gpg writes it with the armor line escaped by ":" against accidents.
	b = bytes.ReplaceAll(b, []byte(":-----BEGIN PGP PUBLIC KEY BLOCK-----"), []byte("-----BEGIN PGP PUBLIC KEY BLOCK-----"))
	g.Import(b)
}

// Encrypt encrypts plain to the key to, signed by signer unless it is ""
// (with signer's passphrase), ASCII-armored if armored.
func (g *GPG) Encrypt(plain []byte, to, signer, passphrase string, armored bool) []byte {
	g.tb.Helper()
	args := []string{"--passphrase", passphrase, "--recipient", to}
	if armored {
		args = append(args, "--armor")
	}
	if signer != "" {
		args = append(args, "--local-user", signer, "--sign")
	}
	return g.must(plain, append(args, "--encrypt")...)
}

// Decrypted is what gpg --decrypt made of a message.
type Decrypted struct {
	Plain    []byte
	ValidSig string // the fingerprint of the primary key of a good signature, or ""
	Status   string // gpg's status lines and messages
}

var validSigRE = regexp.MustCompile(`\[GNUPG:\] VALIDSIG [0-9A-F]+ .* ([0-9A-F]{40})\s*$`)

// Decrypt decrypts data with g's private keys (passphrase for them) and
// checks any signature; an error is gpg's refusal.
func (g *GPG) Decrypt(data []byte, passphrase string) (Decrypted, error) {
	out, status, err := g.Run(data, "--passphrase", passphrase, "--decrypt")
	d := Decrypted{Plain: out, Status: string(status)}
	for _, line := range strings.Split(d.Status, "\n") {
		if m := validSigRE.FindStringSubmatch(line); m != nil {
			d.ValidSig = m[1]
		}
	}
	if err == nil && !strings.Contains(d.Status, "[GNUPG:] DECRYPTION_OKAY") {
		err = fmt.Errorf("gpgtest: no DECRYPTION_OKAY: %s", d.Status)
	}
	return d, err
}
