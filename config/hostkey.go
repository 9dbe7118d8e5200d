package config

import (
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"golang.org/x/crypto/ssh"
)

// HostKeyPin is a parsed host_key: one of the server's host keys, by its SHA256
// fingerprint, and by its type when the pin names one.
type HostKeyPin struct {
	// Type is the key's type ("ssh-ed25519", "ssh-rsa", "ecdsa-sha2-nistp256", ...), or ""
	// for a bare fingerprint, which leaves the client to find which of the server's keys
	// it is.
	Type string
	// Fingerprint is "SHA256:" and 43 characters of unpadded base64.
	Fingerprint string
}

// hostKeyTypes are the key types a pin may name: those of x/crypto/ssh's host keys.
var hostKeyTypes = []string{ssh.KeyAlgoED25519, ssh.KeyAlgoECDSA256, ssh.KeyAlgoECDSA384,
	ssh.KeyAlgoECDSA521, ssh.KeyAlgoRSA}

// ParseHostKey parses a host_key. Three forms are accepted: a fingerprint, as ssh-keygen -lf
// prints it ("SHA256:..."); the key type and the fingerprint, as ssh -v prints it
// ("ssh-ed25519 SHA256:..."); and a public key line, as in a .pub file or ssh-keyscan's
// output without the host ("ssh-ed25519 AAAA... [comment]"). Its errors never hold more of
// the value than its key type.
func ParseHostKey(s string) (HostKeyPin, error) {
	f := strings.Fields(s)
	switch {
	case len(f) == 1:
		if !validFingerprint(f[0]) {
			return HostKeyPin{}, errors.New(`a fingerprint must be "SHA256:" and 43 characters of unpadded base64`)
		}
		return HostKeyPin{Fingerprint: f[0]}, nil
	case len(f) == 0:
		return HostKeyPin{}, errors.New("empty")
	}
	typ := f[0]
	known := false
	for _, t := range hostKeyTypes {
		known = known || t == typ
	}
	if !known {
		return HostKeyPin{}, fmt.Errorf("key type %q: want one of %s", typ, strings.Join(hostKeyTypes, ", "))
	}
	if strings.HasPrefix(f[1], "SHA256:") {
		if len(f) != 2 || !validFingerprint(f[1]) {
			return HostKeyPin{}, errors.New(`after the key type, a fingerprint must be "SHA256:" and 43 characters of unpadded base64`)
		}
		return HostKeyPin{Type: typ, Fingerprint: f[1]}, nil
	}
	key, _, _, _, err := ssh.ParseAuthorizedKey([]byte(s))
	if err != nil || key.Type() != typ {
		return HostKeyPin{}, fmt.Errorf("not a %s public key line", typ)
	}
	return HostKeyPin{Type: typ, Fingerprint: ssh.FingerprintSHA256(key)}, nil
}

// validFingerprint reports whether k is an OpenSSH SHA256 fingerprint: "SHA256:" and the
// unpadded base64 of 32 bytes.
func validFingerprint(k string) bool {
	b64, ok := strings.CutPrefix(k, "SHA256:")
	if !ok {
		return false
	}
	b, err := base64.RawStdEncoding.Strict().DecodeString(b64)
	return err == nil && len(b) == 32
}

// validHostKey reports whether k is a host_key ParseHostKey accepts.
func validHostKey(k string) bool {
	_, err := ParseHostKey(k)
	return err == nil
}
