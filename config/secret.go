package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// maxSecretFile bounds what a file: reference may hold; a private key is a
// few KiB. It keeps file:/dev/zero from eating the heap.
const maxSecretFile = 64 << 10

var envName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// parseRef splits a secret reference into its kind ("env" or "file") and its
// argument. Errors never contain ref itself: a malformed reference may be
// a literal secret.
func parseRef(ref string) (kind, arg string, err error) {
	switch {
	case strings.HasPrefix(ref, "env:"):
		arg = ref[len("env:"):]
		if !envName.MatchString(arg) {
			return "", "", errors.New("env: needs an environment variable name, e.g. env:ACME_PASSWORD")
		}
		return "env", arg, nil
	case strings.HasPrefix(ref, "file:"):
		arg = ref[len("file:"):]
		if !strings.HasPrefix(arg, "/") || hasControl(arg) {
			return "", "", errors.New("file: needs an absolute path, e.g. file:/run/secrets/acme_key")
		}
		return "file", arg, nil
	}
	return "", "", errLiteral
}

// UnmarshalYAML accepts a reference (env:NAME or file:/abs/path) and
// refuses anything else, a literal secret above all. It sets Ref only;
// Parse expands Value.
func (s *Secret) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return errNotRef
	}
	if n.Value == "" {
		*s = Secret{}
		return nil
	}
	if _, _, err := parseRef(n.Value); err != nil {
		return err
	}
	*s = Secret{Ref: n.Value}
	return nil
}

// MarshalYAML writes the reference, never the value.
func (s Secret) MarshalYAML() (any, error) { return s.Ref, nil }

// MarshalText returns the reference, never the value (encoding/json, zap).
func (s Secret) MarshalText() ([]byte, error) { return []byte(s.Ref), nil }

// Format prints the reference for every verb (%v, %+v, %#v, %x, %d...), so
// no format string can reach Value.
func (s Secret) Format(f fmt.State, verb rune) {
	if verb == 'q' {
		io.WriteString(f, strconv.Quote(s.Ref))
		return
	}
	io.WriteString(f, s.Ref)
}

// Expand reads the value a reference points to into Value: the named
// environment variable, which must be set and non-empty, or the named file,
// which must be readable, non-empty and at most 64 KiB. An unset reference
// expands to nothing. Value is kept byte for byte; Parse also trims one
// trailing newline from passwords and passphrases. Errors name the variable
// or file, never the value.
func (s *Secret) Expand() error {
	if s.Ref == "" {
		s.Value = nil
		return nil
	}
	kind, arg, err := parseRef(s.Ref)
	if err != nil {
		return err
	}
	switch kind {
	case "env":
		v, ok := os.LookupEnv(arg)
		if !ok {
			return fmt.Errorf("environment variable %s is not set", arg)
		}
		if v == "" {
			return fmt.Errorf("environment variable %s is empty", arg)
		}
		s.Value = []byte(v)
	case "file":
		b, err := readSecretFile(arg)
		if err != nil {
			return err
		}
		s.Value = b
	}
	return nil
}

func readSecretFile(name string) ([]byte, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, fmt.Errorf("secret file: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxSecretFile+1))
	if err != nil {
		return nil, fmt.Errorf("secret file %s: %w", name, err)
	}
	if len(b) > maxSecretFile {
		return nil, fmt.Errorf("secret file %s is larger than %d bytes", name, maxSecretFile)
	}
	if len(b) == 0 {
		return nil, fmt.Errorf("secret file %s is empty", name)
	}
	return b, nil
}

// expandLine expands s and trims one trailing newline ("\n" or "\r\n"), as
// `echo pw > file` leaves one. For passwords and passphrases.
func (s *Secret) expandLine() error {
	if err := s.Expand(); err != nil {
		return err
	}
	if s.Value == nil {
		return nil
	}
	v := bytes.TrimSuffix(s.Value, []byte("\n"))
	v = bytes.TrimSuffix(v, []byte("\r"))
	if len(v) == 0 {
		return fmt.Errorf("%s holds only a newline", s.Ref)
	}
	s.Value = v
	return nil
}

// Wipe zeroes Value. For callers done with a secret (after an SSH handshake).
func (s *Secret) Wipe() {
	clear(s.Value)
	s.Value = nil
}

// parseDuration parses a non-negative duration. Its errors do not repeat
// the text: a value in the wrong place may be a secret.
func parseDuration(s string) (Duration, error) {
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, errDuration
	}
	if d < 0 {
		return 0, errors.New("must not be negative")
	}
	return Duration(d), nil
}

// UnmarshalYAML reads "30s", "5m", "1h30m" (time.ParseDuration); a
// negative duration is refused.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return errDuration
	}
	v, err := parseDuration(n.Value)
	if err != nil {
		return err
	}
	*d = v
	return nil
}

// MarshalYAML writes d as time.Duration.String does ("30s").
func (d Duration) MarshalYAML() (any, error) { return d.String(), nil }

// String formats d as time.Duration does.
func (d Duration) String() string { return time.Duration(d).String() }

func hasControl(s string) bool {
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			return true
		}
	}
	return false
}
