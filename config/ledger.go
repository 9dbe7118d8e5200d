package config

import (
	"encoding/hex"
	"fmt"
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
