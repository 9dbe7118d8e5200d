package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/exchanged/exchanged/config"
	"github.com/exchanged/exchanged/ledger"
)

// sqliteError is an error with a SQLite result code, as the driver's.
type sqliteError int

func (e sqliteError) Error() string {
	return fmt.Sprintf("attempt to write a readonly database (%d)", int(e))
}
func (e sqliteError) Code() int { return int(e) }

const readOnlyCause = "the ledger's directory must be writable by this user, or the daemon running"

func TestReadOnlyOpenErrorNamesTheCause(t *testing.T) {
	// SQLITE_READONLY_DIRECTORY, as wrapped by the ledger.
	err := readOnlyOpenError("/state/ledger.db", fmt.Errorf("ledger: open: %w", sqliteError(1544)))
	if !strings.Contains(err.Error(), readOnlyCause) || !strings.Contains(err.Error(), "/state/ledger.db") {
		t.Errorf("read-only error: %v", err)
	}
	if !errors.As(err, new(sqliteError)) {
		t.Errorf("the cause is not wrapped: %v", err)
	}
	other := readOnlyOpenError("/state/ledger.db", fmt.Errorf("ledger: open: %w", os.ErrNotExist))
	if strings.Contains(other.Error(), readOnlyCause) || !errors.Is(other, os.ErrNotExist) {
		t.Errorf("another error: %v", other)
	}
}

// In a directory this user cannot write, with no daemon (no -shm file),
// a read-only open fails with the cause named. Root writes anyway: the
// test needs another user.
func TestReadOnlyOpenInReadOnlyDirectory(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("root writes to a read-only directory")
	}
	dir := filepath.Join(t.TempDir(), "state")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	l, err := ledger.Open(filepath.Join(dir, "ledger.db"))
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"ledger.db-wal", "ledger.db-shm"} {
		os.Remove(filepath.Join(dir, f))
	}
	if err := os.Chmod(dir, 0o500); err != nil {
		t.Fatal(err)
	}
	defer os.Chmod(dir, 0o700)
	_, err = openLedgerReadOnly(&config.Config{StateDir: dir})
	if err == nil || !strings.Contains(err.Error(), readOnlyCause) {
		t.Fatalf("read-only open in a read-only directory: %v, want the cause named", err)
	}
}
