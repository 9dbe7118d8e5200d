package ledger

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// dialect is what differs between the ledger's two databases, SQLite
// (embedded, one machine) and PostgreSQL (shared): every other statement
// is written once, in SQL both run the same (placeholders are '?'; the
// PostgreSQL connection rewrites them, see rebind).
type dialect interface {
	// schema is the glob of the embedded migrations, NNN_*.sql, with the
	// same numbers and meaning on both.
	schema() string
	// version returns the number of the last migration applied.
	version(q queryer) (int, error)
	// beginMigration readies tx to read and set the version: it makes the
	// version's home and takes the lock that keeps two processes from
	// migrating at once.
	beginMigration(tx *sql.Tx) error
	// setVersion records migration v as applied, inside tx.
	setVersion(tx *sql.Tx, v int) error
	// beginWrite makes tx the one writer of the ledger until it ends, as
	// SQLite's BEGIN IMMEDIATE does: the audit chain is appended to by one
	// transaction at a time, whichever process it is in.
	beginWrite(tx *sql.Tx) error
	// beginRead begins a read-only transaction that sees one snapshot.
	beginRead(db *sql.DB) (*sql.Tx, error)
	// isConstraint reports whether err is a UNIQUE or PRIMARY KEY
	// violation.
	isConstraint(err error) bool
	// highSeq is an SQL expression: the highest audit seq ever given, or
	// NULL; rows removed from the tail do not lower it.
	highSeq() string
	// greatest is the name of the scalar function of the largest of its
	// arguments.
	greatest() string
}

// sqliteDialect is the embedded ledger's.
type sqliteDialect struct{}

func (sqliteDialect) schema() string { return "schema/*.sql" }

func (sqliteDialect) version(q queryer) (int, error) {
	var v int
	err := q.QueryRow("PRAGMA user_version").Scan(&v)
	return v, err
}

// beginMigration: the connection's transactions are BEGIN IMMEDIATE
// already (_txlock=immediate), and PRAGMA user_version needs no table.
func (sqliteDialect) beginMigration(*sql.Tx) error { return nil }

func (sqliteDialect) setVersion(tx *sql.Tx, v int) error {
	_, err := tx.Exec(fmt.Sprintf("PRAGMA user_version = %d", v))
	return err
}

// beginWrite: every transaction on the connection is BEGIN IMMEDIATE.
func (sqliteDialect) beginWrite(*sql.Tx) error { return nil }

// beginRead: a SQLite transaction reads one snapshot (WAL) once it has
// read; BEGIN IMMEDIATE also keeps writers out while it lasts.
func (sqliteDialect) beginRead(db *sql.DB) (*sql.Tx, error) { return db.Begin() }

func (sqliteDialect) isConstraint(err error) bool {
	var e *sqlite.Error
	if !errors.As(err, &e) {
		return false
	}
	return e.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE || e.Code() == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY
}

// highSeq: AUTOINCREMENT's counter.
func (sqliteDialect) highSeq() string {
	return `(SELECT seq FROM sqlite_sequence WHERE name = 'audit')`
}

func (sqliteDialect) greatest() string { return "max" }

// background is the context of the calls that take none.
var background = context.Background()
