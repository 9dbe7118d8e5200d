package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"reflect"
	"regexp"
	"slices"
	"time"
	_ "time/tzdata" // Europe/Amsterdam in a scratch container

	"gopkg.in/yaml.v3"

	"github.com/exchanged/exchanged/internal/seal"
)

// Defaults. A key that is absent (or null) takes its default; a key given
// an explicit empty or zero value is checked as written, so `port: 0` is an
// error and `keepalive: 0s` turns keep-alives off. The one exception is
// http.listen, where an explicit "" turns the endpoint off.
const (
	DefaultTimezone   = "Europe/Amsterdam"
	DefaultLogLevel   = "info"
	DefaultLogFormat  = "json"
	DefaultListen     = "127.0.0.1:9464"
	DefaultPort       = 22
	DefaultTimeout    = 30 * time.Second
	DefaultKeepAlive  = 30 * time.Second
	DefaultMaxConns   = 2
	DefaultMatch      = "*"
	DefaultAfter      = AfterDelete
	DefaultUpload     = UploadTemp
	DefaultSettle     = 30 * time.Second
	DefaultCharset    = CharsetUTF8
	DefaultDecimal    = "."
	DefaultDateLayout = "2006-01-02"

	DefaultMaxConcurrent = 4
	DefaultAttempts      = 3
	DefaultBackoff       = 2 * time.Second
	DefaultMaxBackoff    = time.Minute
	DefaultAlertAfter    = 3
	DefaultParallelFiles = 8
)

var quoted = regexp.MustCompile("`[^`]*`")

// maxFile bounds the config file; a real one is a few KiB.
const maxFile = 1 << 20

// Load reads and parses the config file at path. See Parse.
func Load(path string) (*Config, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	defer f.Close()
	return Parse(f)
}

// Parse reads a version-1 config: it applies defaults, decodes the YAML
// strictly (an unknown key is an error naming its path), sets the Name
// fields from their map keys, expands secret references (env:NAME,
// file:/path) into Secret.Value, parses each private key (with its
// passphrase) and known_hosts file as a dial would, loads Location and
// validates, schedules with the schedule package's parser. On failure
// it returns a nil Config and every problem found, joined with errors.Join,
// each a *FieldError naming its field where there is one. No error holds a
// secret's value.
func Parse(r io.Reader) (*Config, error) {
	c, err := decode(r)
	if err != nil {
		return nil, err
	}
	errs := c.expandSecrets()
	errs = append(errs, c.expandPGP(time.Now())...)
	if err := c.Validate(); err != nil {
		errs = append(errs, err)
	}
	if len(errs) > 0 {
		c.wipeSecrets()
		return nil, errors.Join(errs...)
	}
	c.Location, _ = time.LoadLocation(c.Timezone) // Validate loaded it
	return c, nil
}

// decode reads a version-1 config as Parse does, up to and without
// expanding its secrets and validating it: defaults, the strict decode
// and the Name fields.
func decode(r io.Reader) (*Config, error) {
	data, err := io.ReadAll(io.LimitReader(r, maxFile+1))
	if err != nil {
		return nil, fmt.Errorf("config: read: %w", err)
	}
	if len(data) > maxFile {
		return nil, fmt.Errorf("config: file larger than %d bytes", maxFile)
	}
	root, err := parseNode(data)
	if err != nil {
		return nil, err
	}
	if err := checkVersion(root); err != nil {
		return nil, err
	}
	w := newWalker(root)
	w.walk("", root, reflect.TypeOf(Config{}))
	if len(w.errs) > 0 {
		return nil, errors.Join(w.errs...)
	}

	c := &Config{
		Timezone: DefaultTimezone,
		Log:      Log{Level: DefaultLogLevel, Format: DefaultLogFormat},
		Runs: Runs{MaxConcurrent: DefaultMaxConcurrent, AlertAfter: DefaultAlertAfter, ParallelFiles: DefaultParallelFiles,
			Retry: Retry{Attempts: DefaultAttempts, Backoff: Duration(DefaultBackoff), MaxBackoff: Duration(DefaultMaxBackoff)}},
		Retention: DefaultRetention(),
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(c); err != nil {
		// The walk above checks every key and type first; this is a
		// backstop. yaml.v3 quotes values in `backticks`: blank them out, a
		// value in the wrong place may be a secret.
		return nil, errors.New("config: " + quoted.ReplaceAllString(err.Error(), "`…`"))
	}
	c.fill()
	return c, nil
}

// parseNode reads the one YAML document in data and returns its top-level
// mapping.
func parseNode(data []byte) (*yaml.Node, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, ErrEmpty
		}
		return nil, fmt.Errorf("config: %w", err)
	}
	var more yaml.Node
	switch err := dec.Decode(&more); {
	case errors.Is(err, io.EOF):
	case err != nil:
		return nil, fmt.Errorf("config: %w", err)
	default:
		return nil, &FieldError{Line: more.Line, Msg: "config: more than one YAML document; put everything in one"}
	}
	n := &doc
	if n.Kind == yaml.DocumentNode {
		if len(n.Content) == 0 {
			return nil, ErrEmpty
		}
		n = n.Content[0]
	}
	if isNull(n) {
		return nil, ErrEmpty
	}
	if n.Kind != yaml.MappingNode {
		return nil, &FieldError{Line: n.Line, Msg: "config: the top level must be a mapping of keys (version:, state_dir:, partners:, jobs:...)"}
	}
	return n, nil
}

// checkVersion refuses a file of another format version before its keys
// are judged by this version's rules. A missing version is left to
// Validate, so that it is reported with everything else.
func checkVersion(root *yaml.Node) error {
	for i := 0; i+1 < len(root.Content); i += 2 {
		if root.Content[i].Value != "version" {
			continue
		}
		v := resolve(root.Content[i+1])
		if v.Kind == yaml.ScalarNode && v.ShortTag() == "!!int" && v.Value == "1" {
			return nil
		}
		if isNull(v) {
			return nil
		}
		return &FieldError{Path: "version", Line: v.Line, Err: ErrVersion,
			Msg: fmt.Sprintf("this build reads format version %d only", Version)}
	}
	return nil
}

// fill sets what is derived from the decoded file: Name fields from map
// keys, and the default http.listen. The other defaults are set before
// decoding (Parse, and the UnmarshalYAML methods in defaults.go), so that
// absence and an explicit value can be told apart.
func (c *Config) fill() {
	if c.HTTP.Listen == nil {
		l := DefaultListen
		c.HTTP.Listen = &l
	}
	c.Cluster.fill()
	for name, p := range c.Partners {
		if p != nil {
			p.Name = name
		}
	}
	for name, j := range c.Jobs {
		if j != nil {
			j.Name = name
		}
	}
	for name, l := range c.Layouts {
		if l != nil {
			l.Name = name
		}
	}
}

// expandSecrets expands every partner's secret references, then checks
// what a dial would refuse: the private key is parsed and decrypted with
// its passphrase, and the known_hosts file is read.
func (c *Config) expandSecrets() []error {
	var errs []error
	if err := c.Staging.Key.Expand(); err != nil {
		errs = append(errs, &FieldError{Path: "staging.key", Msg: err.Error()})
	} else if c.Staging.Key.IsSet() {
		if _, err := seal.ParseKey(c.Staging.Key.Value); err != nil {
			errs = append(errs, &FieldError{Path: "staging.key", Msg: err.Error()})
		}
	}
	errs = append(errs, c.Ledger.expand()...)
	for _, name := range sortedKeys(c.Partners) {
		p := c.Partners[name]
		if p == nil || p.SFTP == nil {
			continue
		}
		base := "partners." + name + ".sftp."
		expanded := true
		for _, s := range []struct {
			key  string
			sec  *Secret
			line bool
		}{
			{"private_key", &p.SFTP.PrivateKey, false},
			{"passphrase", &p.SFTP.Passphrase, true},
			{"password", &p.SFTP.Password, true},
		} {
			expand := s.sec.Expand
			if s.line {
				expand = s.sec.expandLine
			}
			if err := expand(); err != nil {
				errs = append(errs, &FieldError{Path: base + s.key, Msg: err.Error()})
				expanded = false
			}
		}
		if expanded && p.SFTP.PrivateKey.IsSet() {
			if _, err := p.SFTP.Signer(); err != nil {
				var ke *KeyError
				if errors.As(err, &ke) {
					errs = append(errs, &FieldError{Path: base + ke.Field, Msg: ke.Msg})
				} else {
					errs = append(errs, &FieldError{Path: base + "private_key", Msg: err.Error()})
				}
			}
		}
		if kh := p.SFTP.KnownHosts; kh != "" && isCleanAbs(kh) {
			if err := checkKnownHosts(kh); err != nil {
				errs = append(errs, &FieldError{Path: base + "known_hosts", Msg: err.Error()})
			}
		}
	}
	return errs
}

func (c *Config) wipeSecrets() {
	c.Staging.Key.Wipe()
	c.Ledger.wipe()
	for _, p := range c.Partners {
		if p != nil && p.SFTP != nil {
			p.SFTP.PrivateKey.Wipe()
			p.SFTP.Passphrase.Wipe()
			p.SFTP.Password.Wipe()
		}
	}
	for _, j := range c.Jobs {
		if j == nil {
			continue
		}
		if in := j.Source.PGP; in != nil {
			in.DecryptWith.Wipe()
			in.Passphrase.Wipe()
			in.RequireSignatureFrom.Wipe()
		}
		for _, d := range j.Destinations {
			if d != nil && d.PGP != nil {
				d.PGP.SignWith.Wipe()
				d.PGP.Passphrase.Wipe()
				d.PGP.EncryptTo.Wipe()
			}
		}
	}
}

func sortedKeys[V any](m map[string]V) []string {
	return slices.Sorted(maps.Keys(m))
}
