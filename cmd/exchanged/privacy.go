package main

import (
	"errors"
	"fmt"
	"time"

	"github.com/exchanged/exchanged/config"
	"github.com/exchanged/exchanged/exchange"
	"github.com/exchanged/exchanged/ledger"
	"github.com/exchanged/exchanged/transform"
)

// openLedgerReadOnly opens cfg's ledger for the commands that read it
// (the privacy commands, audit verify, purge --dry-run): read only,
// beside a running daemon, without the state_dir lock.
func openLedgerReadOnly(cfg *config.Config) (*ledger.Ledger, error) {
	return openLedgerAs(cfg, ledgerReadOnly)
}

// sqliteReadOnly is SQLite's primary result code SQLITE_READONLY.
const sqliteReadOnly = 8

// readOnlyOpenError names the cause of a failed read-only open of the
// ledger at path. A read-only open of a WAL database needs its -shm file:
// the daemon's, or one this user creates beside the database; in a
// directory this user cannot write, with no daemon running, SQLite says
// only "attempt to write a readonly database".
func readOnlyOpenError(path string, err error) error {
	var coded interface{ Code() int }
	if errors.As(err, &coded) && coded.Code()&0xff == sqliteReadOnly {
		return fmt.Errorf("state_dir: %s cannot be read: the ledger's directory must be writable by this user, or the daemon running, for a read-only open of a WAL database (%w)", path, err)
	}
	return fmt.Errorf("state_dir: %w", err)
}

// rejectReportFields are the categories of a reject report: its rows name
// the creditor's claim reference, never another value.
var rejectReportFields = []string{"creditor_ref"}

// disclosedFields returns the canonical fields output idx of job carried,
// from the config as it stands: the fields of the job's record that the
// destination's profile allows. ok is false when the job, its destination
// or its transform is not in the config (then the fields are unknown), and
// for a file passed unchanged.
func disclosedFields(cfg *config.Config, job string, idx int) (fields []string, ok bool) {
	j := cfg.Jobs[job]
	if j == nil || j.Transform == nil {
		return nil, false
	}
	if idx < 0 {
		return rejectReportFields, true
	}
	if idx >= len(j.Destinations) {
		return nil, false
	}
	layout, err := exchange.LayoutFor(cfg, j.Transform.Layout)
	if err != nil {
		return nil, false
	}
	prof, err := transform.BuiltinProfile(cfg.ProfileFor(j, j.Destinations[idx]))
	if err != nil {
		return nil, false
	}
	for _, f := range transform.Fields(layout.Record) {
		for _, a := range prof.Fields {
			if f == a {
				fields = append(fields, f)
			}
		}
	}
	return fields, true
}

// partnerRole returns the role of partner name in cfg, or "" if the
// config no longer has it.
func partnerRole(cfg *config.Config, name string) string {
	if p := cfg.Partners[name]; p != nil {
		return p.Role
	}
	return ""
}

// partnerContact returns whom to notify at partner name (AVG art. 19):
// its contact: in cfg, or "" if none is given or the config no longer has
// the partner.
func partnerContact(cfg *config.Config, name string) string {
	if p := cfg.Partners[name]; p != nil {
		return p.Contact
	}
	return ""
}

// isCreditor reports whether partner name is a creditor in cfg.
func isCreditor(cfg *config.Config, name string) bool {
	return partnerRole(cfg, name) == config.RoleCreditor
}

// parseWhen reads a --since or --until time: RFC 3339, or a date
// (2006-01-02) at midnight in the config's time zone; "" is no bound.
func parseWhen(cfg *config.Config, flag, s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	loc := cfg.Location
	if loc == nil {
		loc = time.UTC
	}
	if t, err := time.ParseInLocation("2006-01-02", s, loc); err == nil {
		return t, nil
	}
	return time.Time{}, fmt.Errorf("%w: --%s %q: want RFC 3339 (2026-01-02T15:04:05+01:00) or a date (2026-01-02)", errUsage, flag, s)
}

// when formats t for a table; "-" for the zero time.
func when(t time.Time, loc *time.Location) string {
	if t.IsZero() {
		return "-"
	}
	if loc != nil {
		t = t.In(loc)
	}
	return t.Format(time.RFC3339)
}

// orDash returns s, or "—" if s is empty: a table's empty cell.
func orDash(s string) string {
	if s == "" {
		return "—"
	}
	return s
}
