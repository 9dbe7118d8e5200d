package config

import (
	"time"

	"gopkg.in/yaml.v3"
)

// The UnmarshalYAML methods here set a struct's defaults before its keys
// are decoded over them, so that an absent key takes its default and an
// explicit one is kept as written. Unknown keys and wrong types have
// already been reported by Parse's walk over the document.

// UnmarshalYAML decodes an sftp: block over its defaults (port 22, timeout
// 30s, keepalive 30s, max_conns 2).
func (s *SFTP) UnmarshalYAML(n *yaml.Node) error {
	type plain SFTP
	p := plain{
		Port:      DefaultPort,
		Timeout:   Duration(DefaultTimeout),
		KeepAlive: Duration(DefaultKeepAlive),
		MaxConns:  DefaultMaxConns,
	}
	if err := n.Decode(&p); err != nil {
		return err
	}
	*s = SFTP(p)
	return nil
}

// UnmarshalYAML decodes a job over its source defaults (match "*", after
// delete, and settle 30s when neither settle nor done_marker is given).
func (j *Job) UnmarshalYAML(n *yaml.Node) error {
	type plain Job
	p := plain{Source: Source{Match: DefaultMatch, After: DefaultAfter}}
	if err := n.Decode(&p); err != nil {
		return err
	}
	if p.Source.Settle == nil && p.Source.DoneMarker == "" {
		d := Duration(DefaultSettle)
		p.Source.Settle = &d
	}
	*j = Job(p)
	return nil
}

// UnmarshalYAML decodes a layout over its defaults (charset utf-8,
// decimal ".", date 2006-01-02).
func (l *Layout) UnmarshalYAML(n *yaml.Node) error {
	type plain Layout
	p := plain{Charset: DefaultCharset, Decimal: DefaultDecimal, Date: DefaultDateLayout}
	if err := n.Decode(&p); err != nil {
		return err
	}
	*l = Layout(p)
	return nil
}

// UnmarshalYAML decodes a destination over its defaults (upload temp).
func (d *Destination) UnmarshalYAML(n *yaml.Node) error {
	type plain Destination
	p := plain{Upload: DefaultUpload}
	if err := n.Decode(&p); err != nil {
		return err
	}
	*d = Destination(p)
	return nil
}

// The methods below read a value with its default, for a Config built in
// code rather than by Parse, whose zero values stand for "not set".

// ConnectTimeout returns timeout, or DefaultTimeout if it is not set.
func (s SFTP) ConnectTimeout() time.Duration {
	if t := s.Timeout.D(); t > 0 {
		return t
	}
	return DefaultTimeout
}

// Pattern returns match, or DefaultMatch if it is not set.
func (s Source) Pattern() string {
	if s.Match == "" {
		return DefaultMatch
	}
	return s.Match
}

// Parallel returns parallel_files, or DefaultParallelFiles if it is not set.
func (r Runs) Parallel() int {
	if r.ParallelFiles < 1 {
		return DefaultParallelFiles
	}
	return r.ParallelFiles
}

// Policy returns the retry block, or its defaults if attempts is not set.
func (r Retry) Policy() Retry {
	if r.Attempts < 1 {
		return Retry{Attempts: DefaultAttempts, Backoff: Duration(DefaultBackoff), MaxBackoff: Duration(DefaultMaxBackoff)}
	}
	return r
}
