package config

import (
	"errors"
	"strconv"
)

// Errors that Parse returns before any field is looked at. Test with errors.Is.
var (
	// ErrEmpty: the file holds no YAML document (empty, or only comments).
	ErrEmpty = errors.New("config: empty file; see testdata/exchanged.example.yaml")
	// ErrVersion: the file's version: is not one this build reads.
	ErrVersion = errors.New("config: unsupported format version")
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
