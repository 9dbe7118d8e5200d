package main

import (
	"fmt"
	"path/filepath"

	"github.com/exchanged/exchanged/config"
	"github.com/exchanged/exchanged/ledger"
)

// The ledger of a config: state_dir/ledger.db (SQLite), or, with
// ledger.postgres, the PostgreSQL database of that DSN with the pseudonym
// key of ledger.key. An error never holds the DSN (a secret): it names
// the setting.

// ledgerMode is how a command opens the ledger.
type ledgerMode int

const (
	ledgerOwn      ledgerMode = iota // the daemon, once: create, migrate, start the audit chain
	ledgerCurrent                    // beside the daemon, to write (purge): as it is, this build's schema
	ledgerReadOnly                   // beside the daemon, to read (privacy commands, audit verify, purge --dry-run)
)

// openLedgerAs opens cfg's ledger in mode.
func openLedgerAs(cfg *config.Config, mode ledgerMode) (*ledger.Ledger, error) {
	if !cfg.Ledger.Postgres.IsSet() {
		path := filepath.Join(cfg.StateDir, "ledger.db")
		var l *ledger.Ledger
		var err error
		switch mode {
		case ledgerOwn:
			l, err = ledger.Open(path)
		case ledgerCurrent:
			l, err = ledger.OpenCurrent(path)
		default:
			if l, err = ledger.OpenReadOnly(path); err != nil {
				return nil, readOnlyOpenError(path, err)
			}
		}
		if err != nil {
			return nil, fmt.Errorf("state_dir: %w", err)
		}
		return l, nil
	}
	key, err := ledger.ParseKey(cfg.Ledger.Key.Value)
	if err != nil {
		return nil, fmt.Errorf("ledger.key %s: %w", cfg.Ledger.Key.Ref, err)
	}
	defer clear(key) // the ledger keeps a copy
	dsn := string(cfg.Ledger.Postgres.Value)
	var l *ledger.Ledger
	switch mode {
	case ledgerOwn:
		if cfg.Cluster != nil {
			l, err = ledger.OpenPostgresCluster(dsn, key) // one node of several: leases
		} else {
			l, err = ledger.OpenPostgres(dsn, key)
		}
	case ledgerCurrent:
		l, err = ledger.OpenPostgresCurrent(dsn, key)
	default:
		l, err = ledger.OpenPostgresReadOnly(dsn, key)
	}
	if err != nil {
		return nil, fmt.Errorf("ledger.postgres %s: %w", cfg.Ledger.Postgres.Ref, err)
	}
	return l, nil
}
