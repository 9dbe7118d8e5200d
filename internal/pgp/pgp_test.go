package pgp_test

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/exchanged/exchanged/internal/gpgtest"
	"github.com/exchanged/exchanged/internal/pgp"
)

// peers is the agency and one partner, each with its own GnuPG home and
// keys of one algorithm, and the agency's keys as exchanged reads them.
type peers struct {
	agency, partner       *gpgtest.GPG
	agencyFpr, partnerFpr string
	ours                  *pgp.Key // the agency's private key
	theirs                *pgp.Key // the partner's public key
}

const pass = "s3cret pass"

// peerKeys are the keys newPeers made for each algorithm, exported: gpg
// takes seconds to make an RSA key, and a second test of the algorithm
// imports them into its own homes instead.
var peerKeys sync.Map // algo -> *peerKeySet

type peerKeySet struct {
	agencyFpr, partnerFpr       string
	agencySecret, partnerSecret []byte
}

func newPeers(t *testing.T, algo string) *peers {
	t.Helper()
	p := &peers{agency: gpgtest.New(t), partner: gpgtest.New(t)}
	if v, ok := peerKeys.Load(algo); ok {
		ks := v.(*peerKeySet)
		p.agencyFpr, p.partnerFpr = ks.agencyFpr, ks.partnerFpr
		p.agency.Import(ks.agencySecret)
		p.partner.Import(ks.partnerSecret)
	} else {
		p.agencyFpr = p.agency.GenKey("Agency <agency@example>", algo, pass, "never", time.Time{})
		p.partnerFpr = p.partner.GenKey("Partner <partner@example>", algo, pass, "never", time.Time{})
		peerKeys.Store(algo, &peerKeySet{agencyFpr: p.agencyFpr, partnerFpr: p.partnerFpr,
			agencySecret: p.agency.ExportSecret(p.agencyFpr, pass), partnerSecret: p.partner.ExportSecret(p.partnerFpr, pass)})
	}
	p.agency.Import(p.partner.Export(p.partnerFpr))
	p.partner.Import(p.agency.Export(p.agencyFpr))
	var err error
	if p.ours, err = pgp.ReadPrivateKey(p.agency.ExportSecret(p.agencyFpr, pass), []byte(pass)); err != nil {
		t.Fatal(err)
	}
	if p.theirs, err = pgp.ReadPublicKey(p.partner.Export(p.partnerFpr)); err != nil {
		t.Fatal(err)
	}
	return p
}

var algos = []string{gpgtest.RSA, gpgtest.Curve25519}

func plaintext() []byte {
	return bytes.Repeat([]byte("debtor_ref,amount\nD-1,12.50\n"), 5000)
}

// TestGPGDecryptsWhatWeEncrypt: the partner's gpg decrypts and verifies
// what exchanged encrypted to it and signed, binary and armored.
func TestGPGDecryptsWhatWeEncrypt(t *testing.T) {
	for _, algo := range algos {
		t.Run(algo, func(t *testing.T) {
			p := newPeers(t, algo)
			for _, armored := range []bool{false, true} {
				var buf bytes.Buffer
				w, err := pgp.Encrypt(&buf, p.theirs, p.ours, armored, time.Now())
				if err != nil {
					t.Fatal(err)
				}
				if _, err := w.Write(plaintext()); err != nil {
					t.Fatal(err)
				}
				if err := w.Close(); err != nil {
					t.Fatal(err)
				}
				if got := bytes.HasPrefix(buf.Bytes(), []byte("-----BEGIN PGP MESSAGE-----")); got != armored {
					t.Errorf("armored %v: armor header %v", armored, got)
				}
				if bytes.Contains(buf.Bytes(), []byte("D-1,12.50")) {
					t.Fatal("plaintext in the message")
				}
				d, err := p.partner.Decrypt(buf.Bytes(), pass)
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(d.Plain, plaintext()) {
					t.Errorf("gpg decrypted %d bytes, want %d", len(d.Plain), len(plaintext()))
				}
				if d.ValidSig != p.agencyFpr {
					t.Errorf("gpg: valid signature by %q, want %s\n%s", d.ValidSig, p.agencyFpr, d.Status)
				}
			}
		})
	}
}

// TestWeDecryptWhatGPGEncrypts: exchanged decrypts and verifies what the
// partner's gpg encrypted to the agency and signed, binary and armored.
func TestWeDecryptWhatGPGEncrypts(t *testing.T) {
	for _, algo := range algos {
		t.Run(algo, func(t *testing.T) {
			p := newPeers(t, algo)
			for _, armored := range []bool{false, true} {
				msg := p.partner.Encrypt(plaintext(), p.agencyFpr, p.partnerFpr, pass, armored)
				r, err := pgp.Decrypt(bytes.NewReader(msg), int64(len(msg)), p.ours, p.theirs, time.Now())
				if err != nil {
					t.Fatal(err)
				}
				got, err := io.ReadAll(r)
				if err != nil {
					t.Fatalf("armored %v: %v", armored, err)
				}
				if !bytes.Equal(got, plaintext()) {
					t.Errorf("decrypted %d bytes, want %d", len(got), len(plaintext()))
				}
				if err := r.Verify(); err != nil {
					t.Error(err)
				}
				if r.SignedBy() != p.theirs.ID() {
					t.Errorf("signed by %q, want %s", r.SignedBy(), p.theirs.ID())
				}
			}
		})
	}
}

// TestBadMessagesRejected: each bad message is refused whole with its
// reason, a security event where it is one, and never ends in io.EOF.
func TestBadMessagesRejected(t *testing.T) {
	p := newPeers(t, gpgtest.Curve25519)
	other := gpgtest.New(t)
	otherFpr := other.GenKey("Other <other@example>", gpgtest.Curve25519, pass, "never", time.Time{})
	p.partner.Import(other.Export(otherFpr))
	other.Import(p.agency.Export(p.agencyFpr))

	good := p.partner.Encrypt(plaintext(), p.agencyFpr, p.partnerFpr, pass, false)
	flipped := bytes.Clone(good)
	flipped[len(flipped)/2] ^= 0x01
	signedOnly, _, err := p.partner.Run(plaintext(), "--passphrase", pass, "--local-user", p.partnerFpr, "--sign")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, reason string
		msg          []byte
		security     bool
	}{
		{"unsigned", pgp.ReasonUnsigned, p.partner.Encrypt(plaintext(), p.agencyFpr, "", "", false), true},
		{"signed by another key", pgp.ReasonWrongSigner, other.Encrypt(plaintext(), p.agencyFpr, otherFpr, pass, false), true},
		{"encrypted to another key", pgp.ReasonNotEncryptedToUs, p.partner.Encrypt(plaintext(), otherFpr, p.partnerFpr, pass, false), true},
		{"not encrypted", pgp.ReasonNotEncrypted, signedOnly, true},
		{"flipped byte", pgp.ReasonCorrupt, flipped, false},
		{"truncated", pgp.ReasonCorrupt, good[:len(good)-40], false},
		{"truncated early", pgp.ReasonCorrupt, good[:len(good)/3], false},
		{"not pgp", pgp.ReasonCorrupt, plaintext(), false},
		{"empty", pgp.ReasonCorrupt, nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := decryptAll(tc.msg, p.ours, p.theirs)
			var pe *pgp.Error
			if !errors.As(err, &pe) {
				t.Fatalf("err = %v, want a *pgp.Error", err)
			}
			if pe.Reason != tc.reason || pe.Security != tc.security {
				t.Errorf("reason %s security %v, want %s %v (%v)", pe.Reason, pe.Security, tc.reason, tc.security, err)
			}
			if !errors.Is(err, pgp.ErrRejected) {
				t.Error("not ErrRejected")
			}
			if strings.Contains(err.Error(), "D-1") {
				t.Error("error holds plaintext")
			}
		})
	}
	// Without a signer required, an unsigned message is fine.
	if err := decryptAll(p.partner.Encrypt(plaintext(), p.agencyFpr, "", "", false), p.ours, nil); err != nil {
		t.Errorf("unsigned, none required: %v", err)
	}
}

// decryptAll decrypts msg to its end and returns the verdict.
func decryptAll(msg []byte, key, from *pgp.Key) error {
	r, err := pgp.Decrypt(bytes.NewReader(msg), int64(len(msg)), key, from, time.Now())
	if err != nil {
		return err
	}
	if _, err := io.Copy(io.Discard, r); err != nil {
		return err
	}
	return r.Verify()
}

// TestExpiredAndRevokedKeysRefused: a partner key that expired or was
// revoked cannot be encrypted to or required as signer; the reason says
// which.
func TestExpiredAndRevokedKeysRefused(t *testing.T) {
	g := gpgtest.New(t)
	expired := g.GenKey("Expired <e@example>", gpgtest.Curve25519, "", "1d", time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC))
	revoked := g.GenKey("Revoked <r@example>", gpgtest.Curve25519, "", "never", time.Time{})
	g.Revoke(revoked)
	now := time.Now()
	for _, tc := range []struct {
		fpr, want string
	}{{expired, "expired on 2020-01-02"}, {revoked, "is revoked"}} {
		k, err := pgp.ReadPublicKey(g.Export(tc.fpr))
		if err != nil {
			t.Fatal(err)
		}
		for _, err := range []error{k.CheckEncrypt(now), k.CheckVerify(now)} {
			if !errors.Is(err, pgp.ErrKeyUnusable) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("%s: %v, want %q", tc.fpr, err, tc.want)
			}
		}
		if _, err := pgp.Encrypt(io.Discard, k, nil, false, now); !errors.Is(err, pgp.ErrKeyUnusable) {
			t.Errorf("encrypt to %s: %v", tc.fpr, err)
		}
	}
	// The expired key was usable while it lived.
	k, _ := pgp.ReadPublicKey(g.Export(expired))
	if err := k.CheckEncrypt(time.Date(2020, 1, 1, 12, 0, 0, 0, time.UTC)); err != nil {
		t.Errorf("before expiry: %v", err)
	}
}

// TestKeyErrors: a wrong file, a private key where a public one is wanted
// and a wrong passphrase are refused without echoing the key.
func TestKeyErrors(t *testing.T) {
	g := gpgtest.New(t)
	fpr := g.GenKey("K <k@example>", gpgtest.Curve25519, pass, "never", time.Time{})
	secret := g.ExportSecret(fpr, pass)
	public := g.Export(fpr)
	binary, _, err := g.Run(nil, "--export", fpr)
	if err != nil {
		t.Fatal(err)
	}
	keyLine := strings.Split(string(public), "\n")[3] // a line of the key's base64
	for _, tc := range []struct {
		name string
		err  error
		want string
	}{
		{"private as public", second(pgp.ReadPublicKey(secret)), "holds a private key"},
		{"public as private", second(pgp.ReadPrivateKey(public, []byte(pass))), "public key only"},
		{"wrong passphrase", second(pgp.ReadPrivateKey(secret, []byte("nope"))), "cannot be decrypted"},
		{"no passphrase", second(pgp.ReadPrivateKey(secret, nil)), "passphrase"},
		{"not a key", second(pgp.ReadPublicKey([]byte("ssh-ed25519 AAAA"))), "is not an OpenPGP key"},
		{"two keys", second(pgp.ReadPublicKey(append(bytes.Clone(binary), binary...))), "holds 2 keys"},
	} {
		if tc.err == nil || !strings.Contains(tc.err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", tc.name, tc.err, tc.want)
		}
		if tc.err != nil && (strings.Contains(tc.err.Error(), keyLine) || strings.Contains(tc.err.Error(), pass)) {
			t.Errorf("%s: error echoes key material", tc.name)
		}
	}
}

func second[T any](_ T, err error) error { return err }

// TestKeyFromTheFuture: a partner key that never expires, made after our
// clock's now (the partner's clock ahead of ours), is refused as not yet
// valid, without a crash; once our clock passes its creation it is usable.
func TestKeyFromTheFuture(t *testing.T) {
	g := gpgtest.New(t)
	fpr := g.GenKey("F <f@example>", gpgtest.Curve25519, "", "never", time.Time{})
	k, err := pgp.ReadPublicKey(g.Export(fpr))
	if err != nil {
		t.Fatal(err)
	}
	behind := time.Now().Add(-time.Hour)
	for _, err := range []error{k.CheckEncrypt(behind), k.CheckVerify(behind)} {
		if !errors.Is(err, pgp.ErrKeyUnusable) || !strings.Contains(err.Error(), "is not valid before") {
			t.Errorf("our clock an hour behind: %v, want not valid before", err)
		}
	}
	if err := k.CheckEncrypt(time.Now().Add(time.Minute)); err != nil {
		t.Errorf("after its creation: %v", err)
	}
}
