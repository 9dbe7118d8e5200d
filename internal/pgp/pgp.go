// Package pgp is OpenPGP with partners, over github.com/ProtonMail/go-crypto:
// reading keys and checking that a partner's key is usable (not expired,
// not revoked), encrypting a stream to a partner (optionally signed), and
// decrypting one from a partner with its signature verified at EOF. It
// holds no cryptography of its own, and no error it returns holds key
// material, a passphrase or a byte of a message.
package pgp

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
)

// Key is one OpenPGP key (an entity: a primary key with its subkeys and
// identities), public or with its private parts decrypted.
type Key struct {
	e *openpgp.Entity
}

// ID returns the key's long key ID in hex, as gpg --list-keys shows its
// tail: enough for ops to tell keys apart, and no key material.
func (k *Key) ID() string { return fmt.Sprintf("%016X", k.e.PrimaryKey.KeyId) }

// Fingerprint returns the primary key's fingerprint in upper-case hex.
func (k *Key) Fingerprint() string { return fmt.Sprintf("%X", k.e.PrimaryKey.Fingerprint) }

// Errors of reading and checking keys.
var (
	// ErrKeyUnusable is matched by the errors of CheckEncrypt and
	// CheckVerify: the key is expired, revoked or lacks the capability.
	ErrKeyUnusable = errors.New("pgp: key unusable")
)

// ReadPublicKey reads one public key, ASCII-armored or binary. A file
// holding several keys, or a private key, is refused: a partner's key is
// configured one per file. Errors never quote what they read.
func ReadPublicKey(data []byte) (*Key, error) {
	el, err := readKeyRing(data)
	if err != nil {
		return nil, err
	}
	if el[0].PrivateKey != nil {
		return nil, errors.New("holds a private key; give the partner's public key (gpg --export --armor)")
	}
	return &Key{e: el[0]}, nil
}

// ReadPrivateKey reads one private key, ASCII-armored or binary, and
// decrypts it with passphrase when it is protected. Errors never quote
// what they read.
func ReadPrivateKey(data, passphrase []byte) (*Key, error) {
	el, err := readKeyRing(data)
	if err != nil {
		return nil, err
	}
	e := el[0]
	if e.PrivateKey == nil {
		return nil, errors.New("holds a public key only; give the agency's private key (gpg --export-secret-keys --armor)")
	}
	encrypted := e.PrivateKey.Encrypted
	for _, s := range e.Subkeys {
		encrypted = encrypted || (s.PrivateKey != nil && s.PrivateKey.Encrypted)
	}
	switch {
	case encrypted && len(passphrase) == 0:
		return nil, errors.New("is protected by a passphrase; set passphrase: env:NAME or file:/path")
	case encrypted:
		if err := e.DecryptPrivateKeys(passphrase); err != nil {
			return nil, errors.New("cannot be decrypted with the passphrase given")
		}
	case len(passphrase) > 0:
		return nil, errors.New("is not protected by a passphrase; remove passphrase")
	}
	return &Key{e: e}, nil
}

func readKeyRing(data []byte) (openpgp.EntityList, error) {
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, errors.New("is empty")
	}
	var (
		el  openpgp.EntityList
		err error
	)
	if bytes.HasPrefix(bytes.TrimSpace(data), []byte("-----BEGIN PGP")) {
		el, err = openpgp.ReadArmoredKeyRing(bytes.NewReader(data))
	} else {
		el, err = openpgp.ReadKeyRing(bytes.NewReader(data))
	}
	switch {
	case err != nil:
		return nil, errors.New("is not an OpenPGP key: want an armored (-----BEGIN PGP PUBLIC KEY BLOCK-----) or binary key")
	case len(el) == 0:
		return nil, errors.New("holds no OpenPGP key")
	case len(el) > 1:
		return nil, fmt.Errorf("holds %d keys; give exactly one", len(el))
	}
	return el, nil
}

// CheckEncrypt reports whether a message can be encrypted to k at now:
// an error matching ErrKeyUnusable says why not (expired, revoked, no
// encryption key).
func (k *Key) CheckEncrypt(now time.Time) error {
	if _, ok := k.e.EncryptionKey(now); !ok {
		return k.unusable(now, "encryption")
	}
	return nil
}

// CheckSign reports whether k can sign at now (see CheckEncrypt).
func (k *Key) CheckSign(now time.Time) error {
	if _, ok := k.e.SigningKey(now); !ok {
		return k.unusable(now, "signing")
	}
	return nil
}

// CheckVerify reports whether a signature made at now by k would be
// accepted (see CheckEncrypt).
func (k *Key) CheckVerify(now time.Time) error { return k.CheckSign(now) }

// unusable says why k has no usable key for use at now. A key created
// after now (a partner's fresh key, our clock behind theirs) is "not
// valid before" its creation; each unusable subkey is named with why.
func (k *Key) unusable(now time.Time, use string) error {
	why := fmt.Sprintf("has no usable %s key", use)
	sig, id := k.e.PrimarySelfSignature()
	switch {
	case k.e.Revoked(now) || (id != nil && id.Revoked(now)):
		why = "is revoked"
	case sig != nil && keyState(k.e.PrimaryKey, sig, now) != "":
		why = keyState(k.e.PrimaryKey, sig, now)
	case sig != nil && sig.SigExpired(now):
		why = "has an expired self-signature"
	default:
		var subs []string
		for _, s := range k.e.Subkeys {
			sub := ""
			if s.Revoked(now) {
				sub = "is revoked"
			} else if s.Sig != nil {
				sub = keyState(s.PublicKey, s.Sig, now)
			}
			if sub != "" {
				subs = append(subs, fmt.Sprintf("subkey %016X %s", s.PublicKey.KeyId, sub))
			}
		}
		if len(subs) > 0 {
			why += " (" + strings.Join(subs, "; ") + ")"
		}
	}
	return fmt.Errorf("%w: key %s %s", ErrKeyUnusable, k.ID(), why)
}

// keyState says why pk, with self-signature sig, is not valid at now
// (created after now, or expired), or returns "".
func keyState(pk *packet.PublicKey, sig *packet.Signature, now time.Time) string {
	switch {
	case pk.CreationTime.Unix() > now.Unix():
		return "is not valid before " + pk.CreationTime.UTC().Format(time.RFC3339) + " (created after this host's clock; check its time)"
	case sig.KeyLifetimeSecs == nil || *sig.KeyLifetimeSecs == 0:
		return "" // never expires
	case pk.KeyExpired(sig, now):
		return "expired on " + pk.CreationTime.Add(time.Duration(*sig.KeyLifetimeSecs)*time.Second).UTC().Format(time.DateOnly)
	}
	return ""
}

// Encrypt returns a writer that encrypts what is written to it to the key
// to, signed by signer if it is not nil, and writes the message to w,
// ASCII-armored if armored. Close finishes the message (and its armor),
// not w. Each message has a fresh random session key.
func Encrypt(w io.Writer, to, signer *Key, armored bool, now time.Time) (io.WriteCloser, error) {
	if err := to.CheckEncrypt(now); err != nil {
		return nil, err
	}
	var s *openpgp.Entity
	if signer != nil {
		if err := signer.CheckSign(now); err != nil {
			return nil, err
		}
		s = signer.e
	}
	out := w
	var arm io.WriteCloser
	if armored {
		var err error
		if arm, err = armor.Encode(w, "PGP MESSAGE", nil); err != nil {
			return nil, fmt.Errorf("pgp: %w", err)
		}
		out = arm
	}
	cfg := &packet.Config{Time: func() time.Time { return now }}
	pt, err := openpgp.Encrypt(out, []*openpgp.Entity{to.e}, s, &openpgp.FileHints{IsBinary: true}, cfg)
	if err != nil {
		return nil, fmt.Errorf("pgp: encrypt: %w", err)
	}
	return &encrypter{pt: pt, arm: arm}, nil
}

type encrypter struct {
	pt  io.WriteCloser
	arm io.WriteCloser // nil: binary
}

func (e *encrypter) Write(p []byte) (int, error) { return e.pt.Write(p) }

func (e *encrypter) Close() error {
	if err := e.pt.Close(); err != nil {
		return fmt.Errorf("pgp: encrypt: %w", err)
	}
	if e.arm != nil {
		if err := e.arm.Close(); err != nil {
			return fmt.Errorf("pgp: armor: %w", err)
		}
	}
	return nil
}
