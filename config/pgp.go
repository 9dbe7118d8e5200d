package config

import (
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	"github.com/exchanged/exchanged/internal/pgp"
)

// OpenPGP file name extensions (PGPOut.Extension). DefaultPGPExtension is
// the default; ".asc" also means the message is ASCII-armored.
const (
	DefaultPGPExtension = ".pgp"
	PGPArmorExtension   = ".asc"
)

// PGPOut is how a destination's files are encrypted to the partner:
// EncryptTo is the partner's public key, SignWith the agency's private
// key (optional; Passphrase decrypts it). Each is a secret reference
// (file:/path or env:NAME), expanded and parsed by Parse. The delivered
// file's name gets Extension.
type PGPOut struct {
	EncryptTo  Secret `yaml:"encrypt_to"`
	SignWith   Secret `yaml:"sign_with"`
	Passphrase Secret `yaml:"passphrase"`
	Extension  string `yaml:"extension"` // .pgp (default) | .gpg | .asc (ASCII armor)

	keys parsedKeys
}

// PGPIn is how a source's files are decrypted: with the agency's private
// key DecryptWith (Passphrase decrypts it), and, if RequireSignatureFrom
// is set, only when signed by that partner key. Secret references,
// expanded and parsed by Parse.
type PGPIn struct {
	DecryptWith          Secret `yaml:"decrypt_with"`
	Passphrase           Secret `yaml:"passphrase"`
	RequireSignatureFrom Secret `yaml:"require_signature_from"`

	keys parsedKeys
}

// parsedKeys are a block's two keys once parsed (by Parse, or at first
// use for a config built otherwise): a private key's passphrase costs a
// deliberately slow key derivation, paid once per config, not per file.
// A reload is a new config, and parses its keys afresh.
type parsedKeys struct {
	p atomic.Pointer[[2]*pgp.Key]
}

// get returns the keys, parsed by parse on first use.
func (k *parsedKeys) get(parse func() (a, b *pgp.Key, err error)) (a, b *pgp.Key, err error) {
	if v := k.p.Load(); v != nil {
		return v[0], v[1], nil
	}
	if a, b, err = parse(); err != nil {
		return nil, nil, err
	}
	k.p.Store(&[2]*pgp.Key{a, b})
	return a, b, nil
}

// Ext returns the extension the delivered name gets.
func (p *PGPOut) Ext() string {
	if p.Extension == "" {
		return DefaultPGPExtension
	}
	return p.Extension
}

// Armored reports whether messages are ASCII-armored (extension .asc).
func (p *PGPOut) Armored() bool { return p.Ext() == PGPArmorExtension }

// Keys returns the partner's key and the signing key (nil if none),
// parsed once, and checks that they are usable at now: a partner key
// that expired or was revoked since the config was read is refused here,
// at use. Errors name the field (encrypt_to, sign_with, passphrase) and
// never hold key bytes.
func (p *PGPOut) Keys(now time.Time) (to, signer *pgp.Key, err error) {
	to, signer, err = p.keys.get(func() (to, signer *pgp.Key, err error) {
		if to, err = pgp.ReadPublicKey(p.EncryptTo.Value); err != nil {
			return nil, nil, fmt.Errorf("encrypt_to: %s: %w", p.EncryptTo.Ref, err)
		}
		if p.SignWith.IsSet() {
			if signer, err = pgp.ReadPrivateKey(p.SignWith.Value, p.Passphrase.Value); err != nil {
				return nil, nil, fmt.Errorf("sign_with: %s: %w", p.SignWith.Ref, err)
			}
		}
		return to, signer, nil
	})
	if err != nil {
		return nil, nil, err
	}
	if err := to.CheckEncrypt(now); err != nil {
		return nil, nil, fmt.Errorf("encrypt_to: %s: %w", p.EncryptTo.Ref, err)
	}
	if signer != nil {
		if err := signer.CheckSign(now); err != nil {
			return nil, nil, fmt.Errorf("sign_with: %s: %w", p.SignWith.Ref, err)
		}
	}
	return to, signer, nil
}

// Keys returns the agency's private key and the partner's key whose
// signature is required (nil if none), parsed once and checked usable at
// now (see PGPOut.Keys).
func (p *PGPIn) Keys(now time.Time) (key, from *pgp.Key, err error) {
	key, from, err = p.keys.get(func() (key, from *pgp.Key, err error) {
		if key, err = pgp.ReadPrivateKey(p.DecryptWith.Value, p.Passphrase.Value); err != nil {
			return nil, nil, fmt.Errorf("decrypt_with: %s: %w", p.DecryptWith.Ref, err)
		}
		if p.RequireSignatureFrom.IsSet() {
			if from, err = pgp.ReadPublicKey(p.RequireSignatureFrom.Value); err != nil {
				return nil, nil, fmt.Errorf("require_signature_from: %s: %w", p.RequireSignatureFrom.Ref, err)
			}
		}
		return key, from, nil
	})
	if err != nil {
		return nil, nil, err
	}
	if from != nil {
		if err := from.CheckVerify(now); err != nil {
			return nil, nil, fmt.Errorf("require_signature_from: %s: %w", p.RequireSignatureFrom.Ref, err)
		}
	}
	return key, from, nil
}

// PlainName returns the name of a file decrypted from name: without its
// .pgp, .gpg or .asc extension, if it has one and something before it.
func PlainName(name string) string {
	for _, ext := range []string{".pgp", ".gpg", ".asc"} {
		if len(name) > len(ext) && strings.EqualFold(name[len(name)-len(ext):], ext) {
			return name[:len(name)-len(ext)]
		}
	}
	return name
}

// validate checks the shape of a destination's pgp: block at at.
func (o *PGPOut) validate(p *problems, at string) {
	if !o.EncryptTo.IsSet() {
		p.add(at+".encrypt_to", "required: the partner's public key, file:/path or env:NAME")
	}
	if o.Passphrase.IsSet() && !o.SignWith.IsSet() {
		p.add(at+".passphrase", "only with sign_with")
	}
	switch o.Extension {
	case "", ".pgp", ".gpg", ".asc":
	default:
		p.add(at+".extension", `must be ".pgp", ".gpg" or ".asc" (ASCII armor)`)
	}
}

// validate checks the shape of a source's pgp: block at at.
func (i *PGPIn) validate(p *problems, at string) {
	if !i.DecryptWith.IsSet() {
		p.add(at+".decrypt_with", "required: the agency's private key, file:/path or env:NAME")
	}
}

// expandPGP expands and parses every job's OpenPGP keys, so that validate,
// run and once refuse the same files: a key that cannot be read, a wrong
// passphrase, and a partner key that is expired or revoked now.
func (c *Config) expandPGP(now time.Time) []error {
	var errs []error
	expand := func(at string, secs map[string]*Secret) bool {
		ok := true
		for _, key := range sortedKeys(secs) {
			s := secs[key]
			expand := s.Expand
			if key == "passphrase" {
				expand = s.expandLine
			}
			if err := expand(); err != nil {
				errs = append(errs, &FieldError{Path: at + "." + key, Msg: err.Error()})
				ok = false
			}
		}
		return ok
	}
	keyErr := func(at string, err error) {
		field, msg, _ := strings.Cut(err.Error(), ": ")
		errs = append(errs, &FieldError{Path: at + "." + field, Msg: msg})
	}
	for _, name := range sortedKeys(c.Jobs) {
		j := c.Jobs[name]
		if j == nil {
			continue
		}
		if in := j.Source.PGP; in != nil {
			at := "jobs." + name + ".source.pgp"
			if expand(at, map[string]*Secret{"decrypt_with": &in.DecryptWith, "passphrase": &in.Passphrase,
				"require_signature_from": &in.RequireSignatureFrom}) && in.DecryptWith.IsSet() {
				if _, _, err := in.Keys(now); err != nil {
					keyErr(at, err)
				}
			}
		}
		for i, d := range j.Destinations {
			if d == nil || d.PGP == nil {
				continue
			}
			o := d.PGP
			at := fmt.Sprintf("jobs.%s.destinations[%d].pgp", name, i)
			if expand(at, map[string]*Secret{"encrypt_to": &o.EncryptTo, "sign_with": &o.SignWith, "passphrase": &o.Passphrase}) &&
				o.EncryptTo.IsSet() {
				if _, _, err := o.Keys(now); err != nil {
					keyErr(at, err)
				}
			}
		}
	}
	return errs
}
