package config

import (
	"bytes"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"regexp"
	"strings"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// Signer parses s's private key as a dial does, decrypting it with
// Passphrase when one is set. Parse has already called it once, so on a
// parsed Config it fails only if the Values were changed or wiped since.
// Its errors say which key is at fault (private_key or passphrase, see
// KeyError) and what to do, and never hold key or passphrase bytes.
func (s *SFTP) Signer() (ssh.Signer, error) {
	return parseSigner(s.PrivateKey, s.Passphrase)
}

// KeyError is a private key that cannot be used. Field is the key of the
// sftp: block at fault: "private_key" or "passphrase". Msg never holds key
// or passphrase bytes.
type KeyError struct {
	Field string
	Msg   string
}

func (e *KeyError) Error() string { return e.Field + ": " + e.Msg }

// parseSigner parses key, with pass when set. Every message is written
// here: the parser's own could one day quote what it read.
func parseSigner(key, pass Secret) (ssh.Signer, error) {
	keyErr := func(format string, args ...any) error {
		return &KeyError{Field: "private_key", Msg: fmt.Sprintf(format, args...)}
	}
	v := key.Value
	if len(v) == 0 {
		return nil, keyErr("%s is empty", key.Ref)
	}
	if looksLikePath(v) {
		return nil, keyErr("%s holds what looks like a path, not a key; use file:/path/to/key instead", key.Ref)
	}
	var (
		signer ssh.Signer
		err    error
	)
	if pass.IsSet() {
		signer, err = ssh.ParsePrivateKeyWithPassphrase(v, pass.Value)
	} else {
		signer, err = ssh.ParsePrivateKey(v)
	}
	if err == nil {
		return signer, nil
	}
	var missing *ssh.PassphraseMissingError
	switch {
	case errors.As(err, &missing):
		return nil, keyErr("%s is encrypted; set passphrase: env:NAME or file:/path", key.Ref)
	case errors.Is(err, x509.IncorrectPasswordError):
		return nil, &KeyError{Field: "passphrase", Msg: fmt.Sprintf("%s does not decrypt private_key %s", pass.Ref, key.Ref)}
	}
	if pass.IsSet() {
		if _, perr := ssh.ParsePrivateKey(v); perr == nil {
			return nil, &KeyError{Field: "passphrase", Msg: fmt.Sprintf("set, but private_key %s is not encrypted; remove passphrase", key.Ref)}
		}
	}
	return nil, keyErr("%s %s", key.Ref, notAKey(v))
}

// notAKey says what v is instead of a private key this build reads.
func notAKey(v []byte) string {
	if pub, _, _, _, err := ssh.ParseAuthorizedKey(v); err == nil {
		return fmt.Sprintf("is a public key (%s), not a private key; give the private key (id_ed25519, not id_ed25519.pub)", pub.Type())
	}
	t := bytes.TrimSpace(v)
	switch {
	case bytes.HasPrefix(t, []byte("---- BEGIN SSH2 PUBLIC KEY")):
		return "is a public key (RFC 4716), not a private key; give the private key"
	case bytes.HasPrefix(t, []byte("PuTTY-User-Key-File-")):
		return "is a PuTTY key; convert it with: puttygen KEY -O private-openssh -o KEY.openssh"
	}
	block, _ := pem.Decode(v)
	switch {
	case block == nil:
		return "is not a private key: want an OpenSSH or PEM key (-----BEGIN ... PRIVATE KEY-----)"
	case strings.Contains(block.Type, "PUBLIC KEY") || block.Type == "CERTIFICATE":
		return fmt.Sprintf("is a %s, not a private key; give the private key", pemType(block.Type))
	case block.Type == "ENCRYPTED PRIVATE KEY":
		return "is an encrypted PKCS#8 key, which this build cannot read; convert it with: ssh-keygen -p -f KEY"
	case !strings.HasSuffix(block.Type, "PRIVATE KEY"):
		return fmt.Sprintf("is a PEM %s, not a private key", pemType(block.Type))
	}
	return fmt.Sprintf("cannot be read as a %s: damaged, truncated or of an unsupported kind", pemType(block.Type))
}

// pemTypeRE is what a PEM block type looks like; anything else is not
// repeated (it is the text after -----BEGIN, and may be anything).
var pemTypeRE = regexp.MustCompile(`^[A-Z0-9 ]{1,40}$`)

func pemType(t string) string {
	if pemTypeRE.MatchString(t) {
		return "PEM " + t
	}
	return "PEM block"
}

// looksLikePath reports whether v is one line that reads as a file path:
// a key put in env: by its file name.
func looksLikePath(v []byte) bool {
	t := bytes.TrimRight(v, "\r\n")
	if len(t) == 0 || len(t) > 4096 || bytes.ContainsAny(t, "\r\n") {
		return false
	}
	return t[0] == '/' || bytes.HasPrefix(t, []byte("~/")) || bytes.HasPrefix(t, []byte("./")) ||
		bytes.HasPrefix(t, []byte("../")) || bytes.HasPrefix(t, []byte("file:"))
}

// checkKnownHosts reads a known_hosts file as a dial will.
func checkKnownHosts(name string) error {
	fi, err := os.Stat(name)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return fmt.Errorf("%s does not exist; write the partner's host key there (ssh-keyscan, then check its fingerprint with the partner) or pin it with host_key:", name)
	case err != nil:
		return fmt.Errorf("%s: %w", name, errors.Unwrap(err))
	case fi.IsDir():
		return fmt.Errorf("%s is a directory, not a known_hosts file", name)
	case !fi.Mode().IsRegular():
		return fmt.Errorf("%s is not a regular file", name)
	}
	if _, err := knownhosts.New(name); err != nil {
		// Its parse errors quote what they read: keep the line number only,
		// a wrong file here may be a key.
		if m := knownHostsLineRE.FindStringSubmatch(err.Error()); m != nil {
			return fmt.Errorf("%s: line %s is not a known_hosts entry", name, m[1])
		}
		var pe *os.PathError
		if errors.As(err, &pe) {
			return fmt.Errorf("%s: %w", name, pe.Err)
		}
		return fmt.Errorf("%s is not a known_hosts file", name)
	}
	return nil
}

var knownHostsLineRE = regexp.MustCompile(`^knownhosts: .*:(\d+): `)
