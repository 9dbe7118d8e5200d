package config

import (
	"errors"
	"strconv"
)

// The sentinel errors of package config. ErrEmpty and ErrVersion are what
// Parse returns before any field is looked at; test with errors.Is. The
// others are the messages of a *FieldError at a secret or a duration: none
// repeats the value, which may be a secret.
var (
	// ErrEmpty: the file holds no YAML document (empty, or only comments).
	ErrEmpty = errors.New("config: empty file; see testdata/exchanged.example.yaml")
	// ErrVersion: the file's version: is not one this build reads.
	ErrVersion = errors.New("config: unsupported format version")

	// errLiteral: a secret written as a value, not a reference.
	errLiteral = errors.New("a literal secret is refused; use env:NAME or file:/path")
	// errNotRef: a secret's reference is neither env: nor file:.
	errNotRef = errors.New("must be a reference: env:NAME or file:/path")
	// errDuration: a duration that does not parse.
	errDuration = errors.New(`must be a duration such as "30s", "5m" or "1h30m"`)
)

// FieldError is one problem in a config, at a field path such as
// "jobs.acme-in.source.partner" or "jobs.x.destinations[0].dir". Parse and
// Validate return these, joined with errors.Join; use errors.As to pick one
// out. Msg never holds the value of a secret.
type FieldError struct {
	Path string // dotted path of the key at fault; "" for the whole file
	Line int    // 1-based line in the file when known (Parse), else 0
	Msg  string
	Err  error // a sentinel this problem is an instance of (ErrVersion), or nil
}

// Unwrap returns Err, so errors.Is(err, ErrVersion) works through a join.
func (e *FieldError) Unwrap() error { return e.Err }

func (e *FieldError) Error() string {
	s := e.Msg
	if e.Path != "" {
		s = e.Path + ": " + s
	}
	if e.Line > 0 {
		s += " (line " + strconv.Itoa(e.Line) + ")"
	}
	return s
}
