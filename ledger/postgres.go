package ledger

import (
	"bytes"
	"context"
	"database/sql"
	"database/sql/driver"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"
)

// The ledger on PostgreSQL: the same Ledger, over database/sql with pgx's
// driver (github.com/jackc/pgx/v5/stdlib), its own migrations
// (schema/postgres/NNN_*.sql, numbered and meaning as SQLite's), and a
// pseudonym key given by the caller (a secret reference in the config),
// never stored in the database: only its fingerprint is, as on SQLite.
//
// Writes are serialized across every process on the database by a
// transaction-level advisory lock (pgWriteLock), taken first in each write
// transaction: the audit chain is one line, appended to in commit order,
// as SQLite's one writer does. The group commit of one process stays.

// pgWriteLock is the advisory lock key of the ledger's writers ("exch", 1).
const pgWriteLock = 0x6578636800000001

// pgOwnerLock is the advisory lock key of the one process that runs jobs
// on the ledger ("exch", 2): PostgreSQL's state_dir lock (see
// OpenPostgres).
const pgOwnerLock = 0x6578636800000002

// ErrBusy is returned by OpenPostgres, and by every call after its
// connection was lost and another process took the ledger meanwhile, when
// another process runs jobs on the ledger.
var ErrBusy = errors.New("ledger: another exchanged process runs jobs on this ledger")

// pgConnectTimeout bounds the first connection of an Open.
const pgConnectTimeout = 30 * time.Second

// OpenPostgres opens the ledger in the PostgreSQL database of dsn (a
// postgres:// URL or key=value string; a secret: it is never part of an
// error or a log line), bringing its schema up to date and starting its
// audit chain, as Open does for SQLite. key is the pseudonym key (see
// ParseKey): a new ledger records its fingerprint, an existing one refuses
// with an error wrapping ErrKey a key that is not the one it was made
// with. The key is copied; it never goes into the database.
//
// It is the ledger of the one process that runs jobs on it, as the
// state_dir lock makes it on one machine: its connection holds a session
// advisory lock (pgOwnerLock), and Open fails with ErrBusy while another
// process holds it. A connection that is lost takes the lock with it: the
// ledger connects again only if the lock is free, so that a process cut
// off while another took over writes nothing more (ErrBusy). Several
// processes on one ledger need claims and leases (not yet: issue 14).
func OpenPostgres(dsn string, key []byte) (*Ledger, error) {
	return openPostgres(dsn, key, pgMigrate)
}

// OpenPostgresCluster opens the ledger in dsn as OpenPostgres does, for one
// node of a cluster: several processes run jobs on the ledger at once, so
// no process owns it (pgOwnerLock is not taken) and their work is
// coordinated by leases (see leases.go), taken on connections of their own.
// Its connection holds pgOwnerLock shared: a process that owns the ledger
// alone (OpenPostgres) and a cluster never run jobs on it together
// (ErrBusy).
func OpenPostgresCluster(dsn string, key []byte) (*Ledger, error) {
	return openPostgres(dsn, key, pgCluster)
}

// OpenPostgresCurrent opens the ledger in dsn to write to it beside the
// daemon that owns it, as OpenCurrent: it migrates nothing and starts no
// audit chain, and refuses (ErrSchema) a schema that is not this build's.
func OpenPostgresCurrent(dsn string, key []byte) (*Ledger, error) {
	return openPostgres(dsn, key, pgCurrent)
}

// OpenPostgresReadOnly opens the ledger in dsn to read it, as
// OpenReadOnly: its transactions are read-only (PostgreSQL refuses a
// write), the schema must be this build's and the audit chain started.
func OpenPostgresReadOnly(dsn string, key []byte) (*Ledger, error) {
	return openPostgres(dsn, key, pgReadOnly)
}

type pgMode int

const (
	pgMigrate pgMode = iota
	pgCurrent
	pgReadOnly
	pgCluster // pgMigrate without the owner lock, with a pool for leases
)

func openPostgres(dsn string, key []byte, mode pgMode) (*Ledger, error) {
	const what = "ledger: open postgres"
	if len(key) != keySize {
		return nil, fmt.Errorf("%s: %w: the key is %d bytes, want %d", what, ErrKey, len(key), keySize)
	}
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		// pgconn's message shows the DSN with its password redacted;
		// say only that it did not parse.
		return nil, fmt.Errorf("%s: the DSN does not parse", what)
	}
	if mode == pgReadOnly {
		cfg.RuntimeParams["default_transaction_read_only"] = "on"
	}
	db := sql.OpenDB(pgConnector{Connector: stdlib.GetConnector(*cfg), owner: mode == pgMigrate || mode == pgCluster,
		shared: mode == pgCluster})
	// One connection, as on SQLite: the group commit, the callers' view
	// and the hot statements stay as they are.
	db.SetMaxOpenConns(1)
	db.SetMaxIdleConns(1)
	db.SetConnMaxLifetime(0)
	db.SetConnMaxIdleTime(0)
	l := &Ledger{shared: &shared{db: db, now: time.Now, d: pgDialect{}}}
	if mode == pgCluster {
		l.leases = sql.OpenDB(pgConnector{Connector: stdlib.GetConnector(*cfg)})
		l.leases.SetMaxOpenConns(4)
	}
	if err := l.initPostgres(bytes.Clone(key), mode); err != nil {
		db.Close()
		if l.leases != nil {
			l.leases.Close()
		}
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	return l, nil
}

func (l *Ledger) initPostgres(key []byte, mode pgMode) error {
	ctx, cancel := context.WithTimeout(background, pgConnectTimeout)
	err := l.db.PingContext(ctx)
	cancel()
	if err != nil {
		return fmt.Errorf("connect: %w", pgConnectFailure(err))
	}
	switch mode {
	case pgMigrate, pgCluster:
		err = l.migrate()
	case pgCurrent:
		err = l.current()
	case pgReadOnly:
		err = l.currentReadOnly()
	}
	if err != nil {
		return err
	}
	if err := l.prepare("postgres"); err != nil {
		return err
	}
	want, err := l.keyFingerprint()
	if err != nil {
		return err
	}
	if mode == pgReadOnly && want == "" {
		return fmt.Errorf("%w: the ledger has no key fingerprint: run the daemon of this version once first", ErrKey)
	}
	if err := l.useKey(key, want, "the configured ledger key"); err != nil {
		return err
	}
	if mode == pgMigrate || mode == pgCluster {
		return l.startAudit()
	}
	return nil
}

// ParseKey reads a pseudonym key as a secret reference holds it: its 32
// bytes, as a ledger.db.key file beside a SQLite ledger holds them, or
// those bytes as 64 hex digits (openssl rand -hex 32), with or without a
// newline after them.
func ParseKey(b []byte) ([]byte, error) {
	if len(b) == keySize {
		return bytes.Clone(b), nil
	}
	s := strings.TrimRight(string(b), "\r\n")
	k, err := hex.DecodeString(s)
	if err != nil || len(k) != keySize {
		return nil, fmt.Errorf("%w: want %d bytes, or %d hex digits", ErrKey, keySize, 2*keySize)
	}
	return k, nil
}

// pgDialect is the PostgreSQL ledger's.
type pgDialect struct{}

func (pgDialect) schema() string { return "schema/postgres/*.sql" }

func (pgDialect) version(q queryer) (int, error) {
	var exists bool
	if err := q.QueryRow(`SELECT to_regclass('schema_version') IS NOT NULL`).Scan(&exists); err != nil || !exists {
		return 0, err
	}
	var v int
	err := q.QueryRow(`SELECT coalesce((SELECT version FROM schema_version WHERE id = 1), 0)`).Scan(&v)
	return v, err
}

// beginMigration takes the write lock, so that two processes opening a
// new database migrate one after the other, and makes schema_version,
// PostgreSQL's PRAGMA user_version.
func (d pgDialect) beginMigration(tx *sql.Tx) error {
	if err := d.beginWrite(tx); err != nil {
		return err
	}
	_, err := tx.Exec(`CREATE TABLE IF NOT EXISTS schema_version (
		id      INTEGER PRIMARY KEY CHECK (id = 1),
		version INTEGER NOT NULL)`)
	return err
}

func (pgDialect) setVersion(tx *sql.Tx, v int) error {
	_, err := tx.Exec(`INSERT INTO schema_version (id, version) VALUES (1, ` + strconv.Itoa(v) + `)
		ON CONFLICT (id) DO UPDATE SET version = excluded.version`)
	return err
}

// beginWrite waits for the write lock at most busyTimeout, as SQLite's
// busy_timeout does: a stuck writer (a psql session, a stuck purge) makes
// the write fail instead of hanging the job.
func (pgDialect) beginWrite(tx *sql.Tx) error {
	if _, err := tx.Exec(`SET LOCAL lock_timeout = ` + strconv.FormatInt(busyTimeout.Milliseconds(), 10)); err != nil {
		return err
	}
	_, err := tx.Exec(`SELECT pg_advisory_xact_lock(` + strconv.FormatInt(pgWriteLock, 10) + `)`)
	var e *pgconn.PgError
	if errors.As(err, &e) && e.Code == "55P03" { // lock_not_available
		return fmt.Errorf("ledger: the write lock is busy: another writer held it for %v", busyTimeout)
	}
	return err
}

func (pgDialect) beginRead(db *sql.DB) (*sql.Tx, error) {
	return db.BeginTx(background, &sql.TxOptions{Isolation: sql.LevelRepeatableRead, ReadOnly: true})
}

func (pgDialect) isConstraint(err error) bool {
	var e *pgconn.PgError
	return errors.As(err, &e) && e.Code == "23505" // unique_violation, a primary key's too
}

// highSeq: audit_sequence, which a trigger on audit keeps (version 5).
func (pgDialect) highSeq() string { return `(SELECT seq FROM audit_sequence WHERE name = 'audit')` }

func (pgDialect) greatest() string { return "greatest" }

// pgConnector makes connections whose statements take '?' placeholders,
// each holding pgOwnerLock if owner is set: shared if shared is set (the
// nodes of a cluster, which keep a process that owns the ledger alone
// out, and are kept out by it), else exclusive.
type pgConnector struct {
	driver.Connector
	owner, shared bool
}

func (c pgConnector) Connect(ctx context.Context) (driver.Conn, error) {
	conn, err := c.Connector.Connect(ctx)
	if err != nil {
		return nil, &pgConnectError{err}
	}
	pc := &pgConn{conn.(*stdlib.Conn)}
	if c.owner {
		if err := pc.lockOwner(ctx, c.shared); err != nil {
			pc.Close()
			return nil, err
		}
	}
	return pc, nil
}

// pgBusyWait is how long a connection waits for pgOwnerLock: a process
// that just closed the ledger, or was killed, lets go of it once the
// server has seen its connection end, a moment later.
var pgBusyWait = 3 * time.Second // a var: the tests that expect ErrBusy wait less

const pgBusyPoll = 50 * time.Millisecond

// lockOwner takes pgOwnerLock for the connection, shared or exclusive,
// waiting up to pgBusyWait for it, else ErrBusy.
func (c *pgConn) lockOwner(ctx context.Context, shared bool) error {
	fn := "pg_try_advisory_lock"
	if shared {
		fn = "pg_try_advisory_lock_shared"
	}
	for range int(pgBusyWait / pgBusyPoll) {
		var locked bool
		err := c.Conn.Conn().QueryRow(ctx, `SELECT `+fn+`(`+strconv.FormatInt(pgOwnerLock, 10)+`)`).Scan(&locked)
		if err != nil || locked {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(pgBusyPoll):
		}
	}
	return ErrBusy
}

// pgConn is pgx's connection with each statement's '?' placeholders
// rewritten to PostgreSQL's $1, $2... (rebind) once, when it is prepared;
// every other method is pgx's.
type pgConn struct{ *stdlib.Conn }

func (c *pgConn) Prepare(query string) (driver.Stmt, error) {
	return c.Conn.PrepareContext(background, rebind(query))
}

func (c *pgConn) PrepareContext(ctx context.Context, query string) (driver.Stmt, error) {
	return c.Conn.PrepareContext(ctx, rebind(query))
}

// ExecContext rewrites a statement with arguments; one without (a
// migration, which may hold a '?' in a comment or a function body) runs
// as written.
func (c *pgConn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	if len(args) > 0 {
		query = rebind(query)
	}
	return c.Conn.ExecContext(ctx, query, args)
}

func (c *pgConn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	if len(args) > 0 {
		query = rebind(query)
	}
	return c.Conn.QueryContext(ctx, query, args)
}

// rebind returns query with each '?' placeholder numbered as PostgreSQL's
// $1, $2...; a '?' in a string literal, a quoted identifier or a comment
// is left alone.
func rebind(query string) string {
	if !strings.Contains(query, "?") {
		return query
	}
	var b strings.Builder
	n := 0
	// skip copies query[i:] up to and with the first close after from,
	// or to the end, and returns the index of its last byte.
	skip := func(i, from int, close string) int {
		end := len(query)
		if j := strings.Index(query[from:], close); j >= 0 {
			end = from + j + len(close)
		}
		b.WriteString(query[i:end])
		return end - 1
	}
	for i := 0; i < len(query); i++ {
		switch c := query[i]; {
		case c == '\'' || c == '"':
			i = skip(i, i+1, string(c)) // a doubled quote is two literals back to back
		case strings.HasPrefix(query[i:], "--"):
			i = skip(i, i+2, "\n")
		case strings.HasPrefix(query[i:], "/*"):
			i = skip(i, i+2, "*/")
		case c == '?':
			n++
			b.WriteString("$" + strconv.Itoa(n))
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// pgConnectFailure names the class of a failed connect only: pgconn's
// message repeats the DSN's user, database and host.
func pgConnectFailure(err error) error {
	if errors.Is(err, ErrBusy) {
		return err
	}
	msg := pgConnectClass(err)
	if msg == "timed out" {
		msg += " after " + pgConnectTimeout.String()
	}
	return errors.New(msg)
}

// pgConnectError is a failed connect of a pool, the ledger's or the
// leases', after Open as at it: its message names the class only, for
// pgconn's repeats the DSN's user, database and host; the cause stays
// for errors.Is and errors.As (a context cancelled, ErrBusy's callers).
type pgConnectError struct{ err error }

func (e *pgConnectError) Error() string { return "connect: " + pgConnectClass(e.err) }
func (e *pgConnectError) Unwrap() error { return e.err }

func pgConnectClass(err error) string {
	var pe *pgconn.PgError
	var ne net.Error
	switch {
	case errors.As(err, &pe) && pe.Code == "28P01", errors.As(err, &pe) && pe.Code == "28000":
		return "authentication failed (SQLSTATE " + pe.Code + ")"
	case errors.As(err, &pe):
		return "the server refused the connection (SQLSTATE " + pe.Code + ")"
	case errors.Is(err, context.Canceled):
		return "cancelled"
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return "timed out"
	case errors.As(err, &ne):
		return "the server is not reachable"
	default:
		return "the connection failed"
	}
}
