package ledger

import (
	"cmp"
	"crypto/hmac"
	"crypto/sha256"
	"database/sql"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"
)

// The audit chain: every change to a delivery, and to the subjects of an
// output, appends a row to table audit in the transaction that makes the
// change. A row holds a canonical snapshot of the record after the change
// (content) and
//
//	hash = HMAC-SHA256(chain key, prev ‖ kind ‖ ref ‖ content ‖ at)
//
// where prev is the hash of the row before it (or of the checkpoint a
// purge left, or "" for the first row ever) and each field is written with
// its length first, so that no two field lists encode alike. The chain key
// is derived from the ledger's key file (HMAC of a fixed label), not the
// key itself: one who can write the database but not read the key file
// can neither forge a row nor re-chain the rows after one they altered.
// A plain SHA-256 chain would be re-computable by anyone who can write
// the database, and so would show accidents, not tampering.
//
// VerifyAudit checks the chain, and then that every delivery and every
// output's subjects in the ledger equal their last snapshot: a row changed
// outside the ledger's methods (a raw UPDATE) no longer matches.

// Audit record kinds.
const (
	auditDelivery = "delivery" // ref: the delivery id
	auditSubjects = "subjects" // ref: file_id/idx
	auditPurge    = "purge"    // ref: the purge time; content: what it removed
)

// auditPurged is the content of a record deleted by a purge.
const auditPurged = "purged"

// chainKey returns the key of the audit chain's HMAC.
func (l *Ledger) chainKey() []byte {
	m := hmac.New(sha256.New, l.key)
	m.Write([]byte("exchanged ledger audit chain v1"))
	return m.Sum(nil)
}

// chainHash returns the hash of one audit row (or checkpoint) from its
// fields, each written with its length first.
func chainHash(key []byte, fields ...string) string {
	m := hmac.New(sha256.New, key)
	var n [8]byte
	for _, f := range fields {
		binary.BigEndian.PutUint64(n[:], uint64(len(f)))
		m.Write(n[:])
		m.Write([]byte(f))
	}
	return hex.EncodeToString(m.Sum(nil))
}

// canonical encodes a snapshot as a JSON array: the same values always
// encode to the same bytes.
func canonical(v ...any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic("ledger: canonical encoding: " + err.Error()) // only ints and strings are passed
	}
	return string(b)
}

// queryer is a *sql.Tx or a *sql.DB.
type queryer interface {
	QueryRow(query string, args ...any) *sql.Row
	Query(query string, args ...any) (*sql.Rows, error)
}

// chainHead returns the hash the next audit row chains onto.
func chainHead(q queryer) (string, error) {
	var h string
	err := q.QueryRow(`SELECT hash FROM audit ORDER BY seq DESC LIMIT 1`).Scan(&h)
	if errors.Is(err, sql.ErrNoRows) {
		err = q.QueryRow(`SELECT last_hash FROM audit_checkpoint WHERE id = 1`).Scan(&h)
		if errors.Is(err, sql.ErrNoRows) {
			return "", nil
		}
	}
	return h, err
}

// appendAudit appends one row to the chain inside tx.
func (l *Ledger) appendAudit(tx *sql.Tx, kind, ref, content string) error {
	prev, err := chainHead(tx)
	if err != nil {
		return fmt.Errorf("audit: %w", err)
	}
	at := strconv.FormatInt(nanos(l.now()), 10)
	h := chainHash(l.chainKey(), prev, kind, ref, content, at)
	if _, err := tx.Exec(`INSERT INTO audit (kind, ref, content, at, hash) VALUES (?, ?, ?, ?, ?)`,
		kind, ref, content, at, h); err != nil {
		return fmt.Errorf("audit: %w", err)
	}
	return nil
}

// deliverySnapshot returns the canonical content of delivery id as it
// stands in q.
func deliverySnapshot(q queryer, id int64) (string, error) {
	d, err := scanDelivery(q.QueryRow(`SELECT `+deliveryColumns+` FROM deliveries WHERE id = ?`, id))
	if err != nil {
		return "", err
	}
	return deliveryContent(d), nil
}

func deliveryContent(d *Delivery) string {
	return canonical(d.ID, d.FileID, d.Index, d.Partner, d.Dir, d.Name, d.Mode, d.TempName, d.Size,
		d.SHA256, d.State, nanos(d.StartedAt), nanos(d.DeliveredAt))
}

// auditDelivery appends the state of delivery id to the chain.
func (l *Ledger) auditDelivery(tx *sql.Tx, id int64) error {
	c, err := deliverySnapshot(tx, id)
	if err != nil {
		return fmt.Errorf("audit delivery %d: %w", id, err)
	}
	return l.appendAudit(tx, auditDelivery, strconv.FormatInt(id, 10), c)
}

func subjectsRef(fileID int64, idx int) string { return fmt.Sprintf("%d/%d", fileID, idx) }

// subjectsContent returns the canonical content of the subjects of one
// output: their count and the sha256 of their entries (subjectEntry) in
// pseudonym order, each followed by a newline. The pseudonyms themselves
// are not repeated.
func subjectsContent(fileID int64, idx int, sorted []string) string {
	h := sha256.New()
	for _, p := range sorted {
		h.Write([]byte(p))
		h.Write([]byte{'\n'})
	}
	return canonical(fileID, idx, len(sorted), hex.EncodeToString(h.Sum(nil)))
}

// subjectEntry is the SQL expression of one subject as the chain covers
// it: its pseudonym and, after a tab, the creditor it is keyed on ("" when
// unknown), so that neither can be altered unseen.
const subjectEntry = `pseudonym || char(9) || coalesce(creditor, '')`

// auditSubjects appends the subjects of output idx of file fileID to the
// chain.
func (l *Ledger) auditSubjects(tx *sql.Tx, fileID int64, idx int) error {
	rows, err := tx.Query(`SELECT `+subjectEntry+` FROM subjects WHERE file_id = ? AND idx = ? ORDER BY pseudonym`, fileID, idx)
	if err != nil {
		return fmt.Errorf("audit subjects %s: %w", subjectsRef(fileID, idx), err)
	}
	var ps []string
	for rows.Next() {
		var p string
		if err := rows.Scan(&p); err != nil {
			rows.Close()
			return err
		}
		ps = append(ps, p)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	return l.appendAudit(tx, auditSubjects, subjectsRef(fileID, idx), subjectsContent(fileID, idx, ps))
}

// startAudit chains, once, the deliveries and subjects recorded before
// the ledger had an audit chain (schema version 5), in one transaction.
func (l *Ledger) startAudit() error {
	tx, err := l.db.Begin()
	if err != nil {
		return fmt.Errorf("ledger: start audit chain: %w", err)
	}
	defer tx.Rollback()
	var done int
	if err := tx.QueryRow(`SELECT count(*) FROM meta WHERE key = 'audit_genesis'`).Scan(&done); err != nil || done > 0 {
		return err
	}
	var ids []int64
	rows, err := tx.Query(`SELECT id FROM deliveries ORDER BY id`)
	if err != nil {
		return fmt.Errorf("ledger: start audit chain: %w", err)
	}
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err == nil {
			ids = append(ids, id)
		}
	}
	rows.Close()
	for _, id := range ids {
		if err := l.auditDelivery(tx, id); err != nil {
			return fmt.Errorf("ledger: start audit chain: %w", err)
		}
	}
	type out struct {
		file int64
		idx  int
	}
	var outs []out
	rows, err = tx.Query(`SELECT DISTINCT file_id, idx FROM subjects ORDER BY file_id, idx`)
	if err != nil {
		return fmt.Errorf("ledger: start audit chain: %w", err)
	}
	for rows.Next() {
		var o out
		if err := rows.Scan(&o.file, &o.idx); err == nil {
			outs = append(outs, o)
		}
	}
	rows.Close()
	for _, o := range outs {
		if err := l.auditSubjects(tx, o.file, o.idx); err != nil {
			return fmt.Errorf("ledger: start audit chain: %w", err)
		}
	}
	if _, err := tx.Exec(`INSERT INTO meta (key, value) VALUES ('audit_genesis', ?)`,
		l.now().UTC().Format(time.RFC3339Nano)); err != nil {
		return fmt.Errorf("ledger: start audit chain: %w", err)
	}
	return tx.Commit()
}

// AuditProblem is one place where the record is not whole.
type AuditProblem struct {
	Seq    int64  // the audit row concerned; 0 if none
	Kind   string // "delivery", "subjects", "purge" or "checkpoint"
	Ref    string // the delivery id, or file_id/idx of an output's subjects
	Reason string
}

func (p AuditProblem) String() string {
	s := p.Kind
	if p.Ref != "" {
		s += " " + p.Ref
	}
	if p.Seq != 0 {
		s += fmt.Sprintf(" (audit record %d)", p.Seq)
	}
	return s + ": " + p.Reason
}

// AuditReport is the answer of VerifyAudit.
type AuditReport struct {
	Records    int    // audit rows checked
	FromSeq    int64  // the chain starts after this row (a purge checkpoint), 0 if whole
	HeadSeq    int64  // the last row; note it, with HeadHash, outside the ledger to detect a cut tail
	HeadHash   string //
	Deliveries int    // deliveries compared with their last record
	Outputs    int    // outputs' subjects compared with their last record
	Problems   []AuditProblem
}

// OK reports whether the chain is whole and every record matches it.
func (r *AuditReport) OK() bool { return len(r.Problems) == 0 }

// VerifyAudit checks the audit chain from the purge checkpoint (if any) to
// its head, and then every delivery and every output's subjects against
// their last audited state, in one read transaction: it is safe while
// another process writes. It returns an error only when it cannot read;
// what does not match is in the report's Problems, in chain order.
func (l *Ledger) VerifyAudit() (*AuditReport, error) {
	tx, err := l.db.Begin()
	if err != nil {
		return nil, fmt.Errorf("ledger: verify audit: %w", err)
	}
	defer tx.Rollback()
	r, err := l.verify(tx)
	if err != nil {
		return nil, fmt.Errorf("ledger: verify audit: %w", err)
	}
	return r, nil
}

func (l *Ledger) verify(tx *sql.Tx) (*AuditReport, error) {
	key := l.chainKey()
	r := &AuditReport{}
	prev := ""
	var upto, at int64
	var last, counts, hash string
	err := tx.QueryRow(`SELECT upto_seq, last_hash, counts, at, hash FROM audit_checkpoint WHERE id = 1`).
		Scan(&upto, &last, &counts, &at, &hash)
	switch {
	case errors.Is(err, sql.ErrNoRows):
	case err != nil:
		return nil, err
	default:
		r.FromSeq, prev = upto, last
		if !hmac.Equal([]byte(hash), []byte(checkpointHash(key, upto, last, counts, at))) {
			r.Problems = append(r.Problems, AuditProblem{Seq: upto, Kind: "checkpoint",
				Reason: "the purge checkpoint does not match its hash: altered"})
		}
	}
	latest := map[string]string{} // kind/ref → content
	latestSeq := map[string]int64{}
	rows, err := tx.Query(`SELECT seq, kind, ref, content, at, hash FROM audit ORDER BY seq`)
	if err != nil {
		return nil, err
	}
	for rows.Next() {
		var seq, at int64
		var kind, ref, content, h string
		if err := rows.Scan(&seq, &kind, &ref, &content, &at, &h); err != nil {
			rows.Close()
			return nil, err
		}
		r.Records++
		if seq <= upto {
			r.Problems = append(r.Problems, AuditProblem{Seq: seq, Kind: kind, Ref: ref,
				Reason: "stands before the purge checkpoint"})
		}
		if want := chainHash(key, prev, kind, ref, content, strconv.FormatInt(at, 10)); !hmac.Equal([]byte(h), []byte(want)) {
			r.Problems = append(r.Problems, AuditProblem{Seq: seq, Kind: kind, Ref: ref,
				Reason: "the chain breaks here: this record, or the one before it, was altered, inserted or removed"})
		}
		prev = h
		r.HeadSeq, r.HeadHash = seq, h
		if kind != auditPurge {
			latest[kind+"/"+ref], latestSeq[kind+"/"+ref] = content, seq
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	check := func(kind, ref, got string) {
		k := kind + "/" + ref
		want, ok := latest[k]
		delete(latest, k)
		switch {
		case !ok:
			r.Problems = append(r.Problems, AuditProblem{Kind: kind, Ref: ref, Reason: "not on the audit record: written outside the ledger"})
		case want != got:
			r.Problems = append(r.Problems, AuditProblem{Seq: latestSeq[k], Kind: kind, Ref: ref,
				Reason: "differs from its last audited state: altered outside the ledger"})
		}
	}
	ds, err := scanDeliveries(tx.Query(`SELECT ` + deliveryColumns + ` FROM deliveries ORDER BY id`))
	if err != nil {
		return nil, err
	}
	for i := range ds {
		r.Deliveries++
		check(auditDelivery, strconv.FormatInt(ds[i].ID, 10), deliveryContent(&ds[i]))
	}
	if err := l.verifySubjects(tx, r, check); err != nil {
		return nil, err
	}
	for k, content := range latest {
		kind, ref, _ := strings.Cut(k, "/")
		if content == auditPurged || kind == auditSubjects && noSubjects(content) {
			continue // purged, or an output whose subjects were dropped
		}
		r.Problems = append(r.Problems, AuditProblem{Seq: latestSeq[k], Kind: kind, Ref: ref,
			Reason: "on the audit record but missing from the ledger: deleted outside the ledger"})
	}
	sortProblems(r.Problems)
	return r, nil
}

// verifySubjects checks each output's subjects, read in order.
func (l *Ledger) verifySubjects(tx *sql.Tx, r *AuditReport, check func(kind, ref, got string)) error {
	rows, err := tx.Query(`SELECT file_id, idx, ` + subjectEntry + ` FROM subjects ORDER BY file_id, idx, pseudonym`)
	if err != nil {
		return err
	}
	defer rows.Close()
	var cur struct {
		file int64
		idx  int
		ps   []string
		any  bool
	}
	flush := func() {
		if cur.any {
			r.Outputs++
			check(auditSubjects, subjectsRef(cur.file, cur.idx), subjectsContent(cur.file, cur.idx, cur.ps))
		}
	}
	for rows.Next() {
		var file int64
		var idx int
		var p string
		if err := rows.Scan(&file, &idx, &p); err != nil {
			return err
		}
		if !cur.any || file != cur.file || idx != cur.idx {
			flush()
			cur.file, cur.idx, cur.ps, cur.any = file, idx, nil, true
		}
		cur.ps = append(cur.ps, p)
	}
	if err := rows.Err(); err != nil {
		return err
	}
	flush()
	return nil
}

// sortProblems orders problems by audit row, those without one last,
// then by kind and ref: the report reads the same every time.
func sortProblems(ps []AuditProblem) {
	seq := func(p AuditProblem) int64 {
		if p.Seq == 0 {
			return math.MaxInt64
		}
		return p.Seq
	}
	slices.SortStableFunc(ps, func(a, b AuditProblem) int {
		if c := cmp.Compare(seq(a), seq(b)); c != 0 {
			return c
		}
		return cmp.Compare(a.Kind+"/"+a.Ref, b.Kind+"/"+b.Ref)
	})
}

// noSubjects reports whether subjects content records an output with
// none (its subjects dropped).
func noSubjects(content string) bool {
	var v []any
	return json.Unmarshal([]byte(content), &v) == nil && len(v) == 4 && v[2] == float64(0)
}

// checkpointHash returns the HMAC of a purge checkpoint.
func checkpointHash(key []byte, upto int64, last, counts string, at int64) string {
	return chainHash(key, "checkpoint", strconv.FormatInt(upto, 10), last, counts, strconv.FormatInt(at, 10))
}

// subjectOutputs returns the outputs of file fileID that have subjects.
func subjectOutputs(tx *sql.Tx, fileID int64) ([]int, error) {
	rows, err := tx.Query(`SELECT DISTINCT idx FROM subjects WHERE file_id = ? ORDER BY idx`, fileID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []int
	for rows.Next() {
		var idx int
		if err := rows.Scan(&idx); err != nil {
			return nil, err
		}
		out = append(out, idx)
	}
	return out, rows.Err()
}

// OpenReadOnly opens the ledger at path to read it, safely while another
// process (the daemon) writes: read-only, so it creates nothing, migrates
// nothing and takes no write lock. The schema must be the one this build
// knows, with its audit chain started (by an Open of this version), and
// the key file path+".key" must be the ledger's (else an error wrapping
// ErrKey). Only the query methods may be called on it: the connection is
// query_only, so a write fails.
func OpenReadOnly(path string) (*Ledger, error) {
	if path == "" || strings.ContainsAny(path, "?#") {
		return nil, fmt.Errorf("ledger: open %q: path is empty or holds '?' or '#'", path)
	}
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("ledger: open %q: %w", path, err)
	}
	dsn := "file:" + path + "?mode=ro" + fmt.Sprintf("&_busy_timeout=%d", busyTimeout.Milliseconds()) + "&_pragma=query_only(1)"
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("ledger: open %q: %w", path, err)
	}
	db.SetMaxOpenConns(1)
	l := &Ledger{db: db, now: time.Now}
	if err := l.initReadOnly(path); err != nil {
		db.Close()
		return nil, err
	}
	return l, nil
}

func (l *Ledger) initReadOnly(path string) error {
	ms, err := migrations()
	if err != nil {
		return err
	}
	v, err := l.SchemaVersion()
	if err != nil {
		return fmt.Errorf("ledger: open %q: %w", path, err)
	}
	if v != len(ms) {
		return fmt.Errorf("ledger: open %q: schema version %d, this build reads %d: run the daemon of this version once first", path, v, len(ms))
	}
	var want, genesis string
	if err := l.db.QueryRow(`SELECT value FROM meta WHERE key = 'key_fingerprint'`).Scan(&want); err != nil {
		return fmt.Errorf("ledger: open %q: read key fingerprint: %w", path, err)
	}
	if err := l.db.QueryRow(`SELECT value FROM meta WHERE key = 'audit_genesis'`).Scan(&genesis); err != nil {
		return fmt.Errorf("ledger: open %q: the audit chain is not started: run the daemon of this version once first: %w", path, err)
	}
	key, err := readKey(path + ".key")
	if err != nil {
		return fmt.Errorf("%w: %s: %v", ErrKey, path+".key", err)
	}
	if !hmac.Equal([]byte(fingerprint(key)), []byte(want)) {
		return fmt.Errorf("%w: %s.key is not this ledger's key", ErrKey, path)
	}
	l.key = key
	return nil
}
