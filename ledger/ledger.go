package ledger

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// schemaFS holds the schema: a list of migrations, schema/NNN_*.sql, applied in order;
// PRAGMA user_version holds the number of the last one applied. A later
// version adds a file with the next number and never edits an applied one.
// PostgreSQL's are schema/postgres/NNN_*.sql, the same numbers with the
// same meaning, counted in table schema_version.
//
//go:embed schema/*.sql schema/postgres/*.sql
var schemaFS embed.FS

// busyTimeout is how long a statement waits for another process's write
// lock before it fails with SQLITE_BUSY.
const busyTimeout = 10 * time.Second

// keySize is the size of the pseudonym key in bytes.
const keySize = 32

// Ledger is the durable record. Its methods are safe for concurrent use:
// they share one connection, so writes are serialized and every call sees
// the writes that returned before it.
type Ledger struct {
	*shared
	// fence, if set, is the lease every write of this Ledger is made
	// under (see Fenced); nil for the Ledger that Open returns.
	fence *fence
}

// shared is a ledger's state, one for the Ledger that Open returns and
// every fenced view of it.
type shared struct {
	db     *sql.DB
	leases *sql.DB // PostgreSQL in a cluster: the pool leases are taken on (see leaseDB); else nil
	d      dialect // SQLite's or PostgreSQL's
	key    []byte  // the pseudonym key (ledger.db.key); set with setKey
	now    func() time.Time

	caseKey  []byte // derived from key: case pseudonyms (CasePseudonym)
	chainKey []byte // derived from key: the audit chain's HMAC

	wmu        sync.Mutex   // guards queue and committing
	queue      []*write     // writes waiting for the next group commit
	committing bool         // a caller is committing a group
	commits    atomic.Int64 // transactions begun by commitAll
	writes     atomic.Int64 // calls of update

	stmts     []*sql.Stmt // the hot statements (query), prepared at Open
	chainStmt *sql.Stmt   // chainNext in the dialect's SQL, prepared at Open

	tipMu sync.Mutex // guards tip
	tip   tip        // the audit chain's tip in the group commit under way
}

// Open opens the ledger database at path, creating it (mode 0600) when it
// does not exist; the parent directory must exist. The database runs in
// WAL mode with synchronous=FULL, so a call that returned has reached the
// disk. Open brings the schema up to date and loads the pseudonym key from
// path+".key", creating a random one (mode 0600) for a new ledger. It
// refuses, with an error wrapping ErrKey, a key that is missing for a
// ledger that already has one, malformed, readable by others, or not the
// key the ledger was made with.
func Open(path string) (*Ledger, error) {
	if path == "" || strings.ContainsAny(path, "?#") {
		return nil, fmt.Errorf("ledger: open %q: path is empty or holds '?' or '#'", path)
	}
	if err := createPrivate(path); err != nil {
		return nil, err
	}
	return open(path, path, true)
}

// OpenCurrent opens the ledger at path to write to it beside the daemon
// that owns it (exchanged purge, which takes no state_dir lock): as Open,
// but it creates nothing, migrates nothing and starts no audit chain. The
// ledger must exist, and its schema be the one this build knows with its
// audit chain started, else an error wrapping ErrSchema: a build's
// migration under a daemon of another version would change the schema
// that daemon writes.
func OpenCurrent(path string) (*Ledger, error) {
	if path == "" || strings.ContainsAny(path, "?#") {
		return nil, fmt.Errorf("ledger: open %q: path is empty or holds '?' or '#'", path)
	}
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("ledger: open %q: %w", path, err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("ledger: open %q: not a regular file", path)
	}
	// mode=rw: SQLite does not create a file removed since the Stat.
	return open(path, "file:"+path+"?mode=rw", false)
}

// open opens the database of dsn (path, or a file: URI, to which the
// driver's parameters are added) and, if migrate is set, brings its
// schema up to date; else it refuses a schema that is not current.
func open(path, dsn string, migrate bool) (*Ledger, error) {
	sep := "?"
	if strings.Contains(dsn, "?") { // the path holds none (checked)
		sep = "&"
	}
	dsn += sep + "_txlock=immediate" +
		fmt.Sprintf("&_busy_timeout=%d", busyTimeout.Milliseconds()) +
		"&_foreign_keys=1&_journal_mode=WAL&_synchronous=FULL"
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("ledger: open %q: %w", path, err)
	}
	// One connection: SQLite has one writer anyway, and sharing it keeps
	// the pragmas, the transactions and the callers' view simple.
	db.SetMaxOpenConns(1)
	db.SetMaxIdleConns(1)
	db.SetConnMaxLifetime(0)
	db.SetConnMaxIdleTime(0)
	l := &Ledger{shared: &shared{db: db, now: time.Now, d: sqliteDialect{}}}
	if err := l.init(path, migrate); err != nil {
		db.Close()
		return nil, err
	}
	return l, nil
}

func (l *Ledger) init(path string, migrate bool) error {
	var mode string
	if err := l.db.QueryRow("PRAGMA journal_mode").Scan(&mode); err != nil {
		return fmt.Errorf("ledger: open %q: %w", path, err)
	}
	if !strings.EqualFold(mode, "wal") {
		return fmt.Errorf("ledger: open %q: journal mode is %q, not wal", path, mode)
	}
	if !migrate {
		if err := l.current(); err != nil {
			return fmt.Errorf("ledger: open %q: %w", path, err)
		}
	} else if err := l.migrate(); err != nil {
		return fmt.Errorf("ledger: open %q: %w", path, err)
	}
	if err := l.prepare(path); err != nil {
		return err
	}
	if err := l.initKey(path + ".key"); err != nil {
		return err
	}
	return l.startAudit()
}

// prepare prepares the hot statements (queries).
func (l *Ledger) prepare(path string) error {
	for _, q := range queries {
		st, err := l.db.Prepare(q)
		if err != nil {
			return fmt.Errorf("ledger: open %q: prepare %q: %w", path, q, err)
		}
		l.stmts = append(l.stmts, st)
	}
	st, err := l.db.Prepare(chainNext(l.d))
	if err != nil {
		return fmt.Errorf("ledger: open %q: prepare the audit chain's head: %w", path, err)
	}
	l.chainStmt = st
	return nil
}

// createPrivate creates the database file with mode 0600 if it is missing,
// and takes group and other permissions away from an existing one. SQLite
// gives its -wal and -shm files the database file's mode.
func createPrivate(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	switch {
	case err == nil:
		if err := f.Sync(); err != nil {
			f.Close()
			return fmt.Errorf("ledger: create %q: %w", path, err)
		}
		if err := f.Close(); err != nil {
			return fmt.Errorf("ledger: create %q: %w", path, err)
		}
		return syncDir(filepath.Dir(path))
	case errors.Is(err, fs.ErrExist):
		fi, err := os.Stat(path)
		if err != nil {
			return fmt.Errorf("ledger: open %q: %w", path, err)
		}
		if !fi.Mode().IsRegular() {
			return fmt.Errorf("ledger: open %q: not a regular file", path)
		}
		if fi.Mode().Perm()&0o077 != 0 {
			if err := os.Chmod(path, fi.Mode().Perm()&0o700); err != nil {
				return fmt.Errorf("ledger: open %q: %w", path, err)
			}
		}
		return nil
	default:
		return fmt.Errorf("ledger: create %q: %w", path, err)
	}
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("ledger: sync dir %q: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("ledger: sync dir %q: %w", dir, err)
	}
	return nil
}

// migrations returns the embedded schema files of d in order, checking
// that they are numbered 1, 2, 3... without gaps.
func migrations(d dialect) ([]string, error) {
	names, err := schemaGlob(d)
	if err != nil {
		return nil, err
	}
	var out []string
	for i, name := range names {
		var n int
		if _, err := fmt.Sscanf(path.Base(name), "%03d_", &n); err != nil || n != i+1 {
			return nil, fmt.Errorf("schema file %s: want number %03d", name, i+1)
		}
		b, err := schemaFS.ReadFile(name)
		if err != nil {
			return nil, err
		}
		out = append(out, string(b))
	}
	return out, nil
}

// schemaGlob returns the names of d's schema files, sorted.
func schemaGlob(d dialect) ([]string, error) {
	names, err := fs.Glob(schemaFS, d.schema())
	sort.Strings(names)
	return names, err
}

// migrate applies the migrations the database has not seen, each in its
// own transaction together with the user_version that records it.
func (l *Ledger) migrate() error {
	ms, err := migrations(l.d)
	if err != nil {
		return err
	}
	for {
		done, err := l.migrateOne(ms)
		if err != nil || done {
			return err
		}
	}
}

func (l *Ledger) migrateOne(ms []string) (done bool, err error) {
	tx, err := l.db.Begin()
	if err != nil {
		return false, err
	}
	defer tx.Rollback()
	if err := l.d.beginMigration(tx); err != nil {
		return false, err
	}
	v, err := l.d.version(tx)
	if err != nil {
		return false, err
	}
	switch {
	case v > len(ms):
		return false, fmt.Errorf("schema version %d is newer than this build knows (%d)", v, len(ms))
	case v == len(ms):
		return true, nil
	}
	if _, err := tx.Exec(ms[v]); err != nil {
		return false, fmt.Errorf("schema version %d: %w", v+1, err)
	}
	if err := l.d.setVersion(tx, v+1); err != nil {
		return false, fmt.Errorf("schema version %d: %w", v+1, err)
	}
	return false, tx.Commit()
}

// current returns an error wrapping ErrSchema unless the database's
// schema is the one this build knows and its audit chain is started.
func (l *Ledger) current() error {
	ms, err := migrations(l.d)
	if err != nil {
		return err
	}
	v, err := l.SchemaVersion()
	if err != nil {
		return err
	}
	if v != len(ms) {
		return fmt.Errorf("%w: schema version %d, this build's is %d: run the daemon of this version once first (or this command of the daemon's version)", ErrSchema, v, len(ms))
	}
	var started int
	if err := l.db.QueryRow(`SELECT count(*) FROM meta WHERE key = 'audit_genesis'`).Scan(&started); err != nil {
		return err
	}
	if started == 0 {
		return fmt.Errorf("%w: the audit chain is not started: run the daemon of this version once first", ErrSchema)
	}
	return nil
}

// SchemaVersion returns the schema version of the open database.
func (l *Ledger) SchemaVersion() (int, error) {
	v, err := l.d.version(l.db)
	if err != nil {
		return 0, fmt.Errorf("ledger: schema version: %w", err)
	}
	return v, nil
}

// initKey loads the pseudonym key, or creates it for a ledger that has
// none yet, and checks it against the fingerprint the ledger recorded.
func (l *Ledger) initKey(keyPath string) error {
	want, err := l.keyFingerprint()
	if err != nil {
		return err
	}
	key, err := loadKey(keyPath, want == "")
	if err != nil {
		return err
	}
	return l.useKey(key, want, keyPath)
}

// keyFingerprint returns the fingerprint of the key the ledger was made
// with, "" for a ledger that has none yet.
func (l *Ledger) keyFingerprint() (string, error) {
	var want string
	err := l.db.QueryRow(`SELECT value FROM meta WHERE key = 'key_fingerprint'`).Scan(&want)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return "", fmt.Errorf("ledger: read key fingerprint: %w", err)
	}
	return want, nil
}

// useKey sets key as the ledger's after checking it against want, its
// recorded fingerprint, or, if none is recorded (want ""), recording it.
// name says what the key is in an error (its file).
func (l *Ledger) useKey(key []byte, want, name string) error {
	got := fingerprint(key)
	if want == "" {
		_, err := l.db.Exec(`INSERT INTO meta (key, value) VALUES ('key_fingerprint', ?)
			ON CONFLICT (key) DO NOTHING`, got)
		if err != nil {
			return fmt.Errorf("ledger: record key fingerprint: %w", err)
		}
		if err := l.db.QueryRow(`SELECT value FROM meta WHERE key = 'key_fingerprint'`).Scan(&want); err != nil {
			return fmt.Errorf("ledger: read key fingerprint: %w", err)
		}
	}
	if !hmac.Equal([]byte(got), []byte(want)) {
		return fmt.Errorf("%w: %s is not the key this ledger's pseudonyms were made with", ErrKey, name)
	}
	l.setKey(key)
	return nil
}

// fingerprint identifies a key without revealing it.
func fingerprint(key []byte) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte("exchanged ledger key fingerprint v1"))
	return hex.EncodeToString(m.Sum(nil))
}

// loadKey reads the key file, or, if it is missing and create is set,
// writes a new random key to a temporary file and links it into place, so
// that a crash never leaves a partial key and two processes agree on one.
func loadKey(keyPath string, create bool) ([]byte, error) {
	key, err := readKey(keyPath)
	if !errors.Is(err, fs.ErrNotExist) {
		return key, err
	}
	if !create {
		return nil, fmt.Errorf("%w: %s is missing, and this ledger already holds pseudonyms made with it", ErrKey, keyPath)
	}
	key = make([]byte, keySize)
	if _, err := rand.Read(key); err != nil {
		return nil, fmt.Errorf("ledger: create key: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(keyPath), filepath.Base(keyPath)+".tmp-*")
	if err != nil {
		return nil, fmt.Errorf("ledger: create key: %w", err)
	}
	defer os.Remove(tmp.Name())
	// CreateTemp makes the file 0600; say so in case that ever changes.
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return nil, fmt.Errorf("ledger: create key: %w", err)
	}
	if _, err := tmp.Write(key); err != nil {
		tmp.Close()
		return nil, fmt.Errorf("ledger: create key: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return nil, fmt.Errorf("ledger: create key: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return nil, fmt.Errorf("ledger: create key: %w", err)
	}
	if err := os.Link(tmp.Name(), keyPath); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return readKey(keyPath) // another process won
		}
		return nil, fmt.Errorf("ledger: create key: %w", err)
	}
	if err := syncDir(filepath.Dir(keyPath)); err != nil {
		return nil, err
	}
	return key, nil
}

func readKey(keyPath string) ([]byte, error) {
	f, err := os.Open(keyPath)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
		return nil, fmt.Errorf("%w: %v", ErrKey, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrKey, err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%w: %s is not a regular file", ErrKey, keyPath)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("%w: %s has mode %04o; it must be readable by its owner only (chmod 600)",
			ErrKey, keyPath, fi.Mode().Perm())
	}
	key := make([]byte, keySize+1)
	n, _ := f.Read(key)
	if n != keySize || fi.Size() != keySize {
		return nil, fmt.Errorf("%w: %s holds %d bytes, want %d", ErrKey, keyPath, fi.Size(), keySize)
	}
	return key[:keySize], nil
}

// Close closes the database. The Ledger must not be used afterwards.
func (l *Ledger) Close() error {
	for _, st := range l.stmts {
		st.Close()
	}
	if l.chainStmt != nil {
		l.chainStmt.Close()
	}
	err := l.db.Close()
	if l.leases != nil {
		l.leases.Close()
	}
	clear(l.key)
	if err != nil {
		return fmt.Errorf("ledger: close: %w", err)
	}
	return nil
}

// Pseudonym returns the pseudonymous id of a data subject: the hex
// HMAC-SHA256, under the ledger's key, of creditor, a NUL byte, and the
// creditor's own reference for the subject. It is the same across restarts
// for the same key, and differs between creditors for the same reference.
// The inputs are used byte for byte: normalize them before calling.
func (l *Ledger) Pseudonym(creditor, ref string) string {
	m := hmac.New(sha256.New, l.key)
	m.Write([]byte(creditor))
	m.Write([]byte{0})
	m.Write([]byte(ref))
	return hex.EncodeToString(m.Sum(nil))
}

// caseLabel is the label the key for case pseudonyms is derived under.
const caseLabel = "exchanged case pseudonym v1"

// CasePseudonym returns the pseudonymous id of a case: the hex
// HMAC-SHA256 of the agency's case reference (canonical field case_ref)
// under a key derived from the ledger's key for cases alone,
// HMAC-SHA256(key, caseLabel). The separate key is the domain separation:
// a case pseudonym can never equal a debtor's (see Pseudonym), whatever
// a partner is called or a reference holds. It is not keyed on a
// creditor: case references are the agency's own and unique across
// creditors, and a case is looked up without knowing whose it is. The
// reference is used byte for byte: normalize it before calling.
func (l *Ledger) CasePseudonym(caseRef string) string {
	m := hmac.New(sha256.New, l.caseKey)
	m.Write([]byte(caseRef))
	return hex.EncodeToString(m.Sum(nil))
}

// setKey sets the ledger's key and the keys derived from it, once, so
// that no row written or read derives them again.
func (l *Ledger) setKey(key []byte) {
	derive := func(label string) []byte {
		m := hmac.New(sha256.New, key)
		m.Write([]byte(label))
		return m.Sum(nil)
	}
	l.key, l.caseKey, l.chainKey = key, derive(caseLabel), derive(chainLabel)
}

// update runs fn in a write transaction and returns once the transaction
// is committed (and, with synchronous=FULL, on disk).
//
// Writes that arrive while another commit is under way are committed
// together, in one transaction and one fsync (group commit); one fn's
// error undoes that fn alone (see commit). The first waiting caller
// commits the next group; callers never wait for more than the commit
// before theirs and their own. fn must not call the Ledger, and may run
// more than once: it must do nothing but its work in tx.
func (l *Ledger) update(fn func(tx *sql.Tx) error) error {
	l.writes.Add(1)
	w := &write{fn: fn, fence: l.fence, wake: make(chan struct{})}
	l.wmu.Lock()
	l.queue = append(l.queue, w)
	lead := !l.committing
	l.committing = true
	l.wmu.Unlock()
	if !lead {
		<-w.wake
		if !w.lead {
			return w.err
		}
	}
	l.wmu.Lock()
	group := l.queue
	l.queue = nil
	l.wmu.Unlock()
	defer l.handOff()
	l.commit(group, w)
	return w.err
}

// write is one caller's fn waiting for a group commit.
type write struct {
	fn    func(tx *sql.Tx) error
	fence *fence // checked in the transaction before fn, if set
	err   error
	lead  bool          // woken to commit the next group
	wake  chan struct{} // closed when err is set or lead is
}

// handOff wakes the first writer queued during a commit to commit the
// next group, or ends committing if none is.
func (l *Ledger) handOff() {
	l.wmu.Lock()
	defer l.wmu.Unlock()
	if len(l.queue) == 0 {
		l.committing = false
		return
	}
	next := l.queue[0]
	next.lead = true
	close(next.wake)
}

// commit runs group in one transaction (BEGIN IMMEDIATE) and commits it,
// then wakes every writer but self with its result. Should a write fail,
// the transaction is rolled back and each write runs again in one of its
// own, so that one write's error undoes that write alone. (Savepoints
// would do the same at three statements more per write, on every commit,
// for failures that are rare.)
func (l *Ledger) commit(group []*write, self *write) {
	defer func() {
		for _, w := range group {
			if w != self {
				close(w.wake)
			}
		}
	}()
	for _, w := range group {
		w.err = errNotCommitted // until it is: a panic below leaves it so
	}
	if len(group) > 1 && l.commitAll(group) == nil {
		for _, w := range group {
			w.err = nil
		}
		return
	}
	for _, w := range group {
		w.err = l.commitAll([]*write{w})
	}
}

// commitAll runs every write of group in one transaction and commits it.
// The first error rolls it all back.
func (l *Ledger) commitAll(group []*write) error {
	l.commits.Add(1)
	tx, err := l.db.Begin()
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if err := l.d.beginWrite(tx); err != nil {
		return err
	}
	l.holdTip(tx)
	defer l.dropTip() // runs before the rollback deferred above
	for _, w := range group {
		if err := w.fence.check(tx); err != nil {
			return err
		}
		if err := w.fn(tx); err != nil {
			return err
		}
	}
	return tx.Commit()
}

// WriteStats counts a ledger's writes since it was opened.
type WriteStats struct {
	Writes       int64 // calls that write (each its own transaction, or a share of one)
	Transactions int64 // write transactions begun: group commits, and writes run again alone
}

// WriteStats returns how many writes this ledger (and every fenced view
// of it) made since it was opened, and in how many transactions: for
// benchmarks and tests.
func (l *Ledger) WriteStats() WriteStats {
	return WriteStats{Writes: l.writes.Load(), Transactions: l.commits.Load()}
}

// Times are stored as Unix nanoseconds; 0 or NULL is the zero time.

func nanos(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

func nullNanos(t time.Time) sql.NullInt64 {
	if t.IsZero() {
		return sql.NullInt64{}
	}
	return sql.NullInt64{Int64: t.UnixNano(), Valid: true}
}

func fromNanos(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n)
}

func fromNull(n sql.NullInt64) time.Time {
	if !n.Valid {
		return time.Time{}
	}
	return fromNanos(n.Int64)
}

// checkTime refuses a time that Unix nanoseconds cannot hold (before 1678
// or after 2262), which would otherwise be stored as garbage.
func checkTime(what string, t time.Time) error {
	if t.IsZero() {
		return nil
	}
	if y := t.Year(); y < 1678 || y > 2261 {
		return fmt.Errorf("ledger: %s %s is out of range", what, t.UTC().Format(time.RFC3339))
	}
	return nil
}
