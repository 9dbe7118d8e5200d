package config

import (
	"encoding/hex"
	"fmt"
	"net"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
)

// Ledger is where the ledger lives: by default state_dir/ledger.db
// (SQLite, with its pseudonym key in ledger.db.key beside it, made at the
// first start); with Postgres set, a PostgreSQL database, several
// machines' shared record.
type Ledger struct {
	// Postgres is a secret reference (env:NAME or file:/path) to the DSN
	// of the database: postgres://USER:PASSWORD@HOST:PORT/DB?sslmode=...,
	// or key=value pairs. It holds a password: it is never logged.
	Postgres Secret `yaml:"postgres"`
	// Key is a secret reference to the pseudonym key: its 32 bytes (a
	// ledger.db.key file), or 64 hex digits (openssl rand -hex 32). It is
	// required with Postgres and never stored in the database (only its
	// fingerprint, so that another key is refused); without Postgres it is
	// refused: SQLite's key is the file beside the database.
	Key Secret `yaml:"key"`
}

// ledgerKeySize is the size of the pseudonym key (the ledger's keySize).
const ledgerKeySize = 32

// expand expands the references and checks the key's form.
func (l *Ledger) expand() []error {
	var errs []error
	if err := l.Postgres.expandLine(); err != nil {
		errs = append(errs, &FieldError{Path: "ledger.postgres", Msg: err.Error()})
	} else if l.Postgres.IsSet() {
		if msg := dsnTLSProblem(string(l.Postgres.Value)); msg != "" {
			errs = append(errs, &FieldError{Path: "ledger.postgres", Msg: l.Postgres.Ref + ": " + msg})
		}
	}
	if err := l.Key.Expand(); err != nil {
		errs = append(errs, &FieldError{Path: "ledger.key", Msg: err.Error()})
	} else if l.Key.IsSet() && !ledgerKeyForm(l.Key.Value) {
		errs = append(errs, &FieldError{Path: "ledger.key",
			Msg: fmt.Sprintf("%s must hold %d bytes, or %d hex digits", l.Key.Ref, ledgerKeySize, 2*ledgerKeySize)})
	}
	return errs
}

// ledgerKeyForm reports whether b is a key as ledger.ParseKey reads it.
func ledgerKeyForm(b []byte) bool {
	if len(b) == ledgerKeySize {
		return true
	}
	for len(b) > 0 && (b[len(b)-1] == '\n' || b[len(b)-1] == '\r') {
		b = b[:len(b)-1]
	}
	k, err := hex.DecodeString(string(b))
	return err == nil && len(k) == ledgerKeySize
}

// validate checks that the key comes with Postgres, and only then.
func (l *Ledger) validate(p *problems) {
	switch {
	case l.Postgres.IsSet() && !l.Key.IsSet():
		p.add("ledger.key", "required with ledger.postgres: the pseudonym key (32 bytes, or 64 hex digits) as a secret reference")
	case l.Key.IsSet() && !l.Postgres.IsSet():
		p.add("ledger.key", "only with ledger.postgres: a SQLite ledger's key is state_dir/ledger.db.key")
	}
}

func (l *Ledger) wipe() {
	l.Postgres.Wipe()
	l.Key.Wipe()
}

// dsnTLSProblem says why the DSN may not be used ("" if it may): it must
// parse (pgx's own parser), and every host it may connect to that is not
// loopback or a unix socket needs verified TLS (sslmode=verify-full or
// verify-ca), with no plaintext or unverified fallback. The message never
// repeats the DSN: it holds a password.
func dsnTLSProblem(dsn string) string {
	cfg, err := pgconn.ParseConfig(dsn)
	if err != nil {
		return "the DSN does not parse"
	}
	tries := append([]*pgconn.FallbackConfig{{Host: cfg.Host, Port: cfg.Port, TLSConfig: cfg.TLSConfig}}, cfg.Fallbacks...)
	for _, f := range tries {
		if dsnLocal(f.Host) {
			continue
		}
		if f.TLSConfig == nil || (f.TLSConfig.InsecureSkipVerify && f.TLSConfig.VerifyPeerCertificate == nil) {
			return "a DSN to a host other than loopback or a unix socket needs sslmode=verify-full (or verify-ca)"
		}
	}
	return ""
}

// dsnLocal reports whether host is a unix socket's directory or loopback.
func dsnLocal(host string) bool {
	if strings.HasPrefix(host, "/") || host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
