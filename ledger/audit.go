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
	"unicode"
)

// The audit chain: every change to a delivery, to the subjects of an
// output, and to the facts of a file that the privacy answers read (its
// job, source partner, directory, name, size, mtime, sha256, row counts
// and unread mark) appends a row to table audit in the transaction that
// makes the change. A row holds a canonical snapshot of the record after
// the change (content) and
//
//	hash = HMAC-SHA256(chain key, prev ‖ seq ‖ kind ‖ ref ‖ content ‖ at)
//
// where prev is the hash of the row before it (or of the checkpoint a
// purge left, or "" for the first row ever, the genesis record) and each
// field is written with its length first, so that no two field lists
// encode alike. seq runs on without a gap from the checkpoint (or 1): a
// row removed from the middle or the tail, once the daemon appends again,
// leaves a gap, and closing the gap means re-hashing, which needs the key.
// A tail cut with nothing appended after it (or with sqlite_sequence reset
// too) leaves a whole, shorter chain: only a head noted outside the ledger
// finds it (an Anchor passed to VerifyAudit). The chain key
// is derived from the ledger's key file (HMAC of a fixed label), not the
// key itself: one who can write the database but not read the key file
// can neither forge a row nor re-chain the rows after one they altered.
// A plain SHA-256 chain would be re-computable by anyone who can write
// the database, and so would show accidents, not tampering.
//
// VerifyAudit checks the chain, and then that every file, every delivery
// and every output's subjects in the ledger equal their last snapshot: a
// row changed outside the ledger's methods (a raw UPDATE) no longer
// matches.

// Audit record kinds.
const (
	auditGenesis  = "genesis"  // ref: "", content: when the chain began, and what it chained then
	auditFile     = "file"     // ref: the file id
	auditDelivery = "delivery" // ref: the delivery id
	auditSubjects = "subjects" // ref: file_id/idx
	auditPurge    = "purge"    // ref: the purge time; content: what it removed
	auditAction   = "action"   // ref: the file action's id (schema version 7)
)

// auditPurged is the content of a record deleted by a purge, or of a file
// dropped before it was staged (DeleteFile).
const auditPurged = "purged"

// chainLabel is the label the audit chain's key is derived under.
const chainLabel = "exchanged ledger audit chain v1"

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

// chainNext is the statement, in d's SQL, that reads where the next audit
// row goes: the hash it chains onto (the last row's, else the hash of the
// checkpoint a purge left, else "" for the first row ever) and its seq,
// one past the highest ever given (AUTOINCREMENT's counter, see
// dialect.highSeq), or past the checkpoint.
func chainNext(d dialect) string {
	return `SELECT coalesce(
		(SELECT hash FROM audit ORDER BY seq DESC LIMIT 1),
		(SELECT last_hash FROM audit_checkpoint WHERE id = 1), ''),
		` + d.greatest() + `(
		coalesce(` + d.highSeq() + `, 0),
		coalesce((SELECT max(seq) FROM audit), 0),
		coalesce((SELECT upto_seq FROM audit_checkpoint WHERE id = 1), 0)) + 1`
}

// rowHash returns the hash of one audit row.
func rowHash(key []byte, prev string, seq int64, kind, ref, content string, at int64) string {
	return chainHash(key, prev, strconv.FormatInt(seq, 10), kind, ref, content, strconv.FormatInt(at, 10))
}

// tip is where the next audit row of the group commit under way chains
// on (see Ledger.commitAll): the rows one transaction appends read the
// chain's head once. It holds while the transaction does, which as the
// ledger's one writer (dialect.beginWrite) sees every row appended, and
// rows go only through appendAudit; a purge removes rows from the head,
// never the last one appended, whose hash its checkpoint keeps.
type tip struct {
	tx   *sql.Tx
	prev string // the hash of the last row appended in tx
	seq  int64  // its seq; 0 until tx appends
}

// holdTip starts keeping the tip of tx, a group commit's transaction;
// dropTip ends it, before the transaction commits or rolls back.
func (l *Ledger) holdTip(tx *sql.Tx) {
	l.tipMu.Lock()
	l.tip = tip{tx: tx}
	l.tipMu.Unlock()
}

func (l *Ledger) dropTip() {
	l.tipMu.Lock()
	l.tip = tip{}
	l.tipMu.Unlock()
}

// appendAudit appends one row to the chain inside tx.
func (l *Ledger) appendAudit(tx *sql.Tx, kind, ref, content string) error {
	l.tipMu.Lock()
	t := l.tip
	l.tipMu.Unlock()
	var prev string
	var seq int64
	if t.tx == tx && t.seq > 0 {
		prev, seq = t.prev, t.seq+1
	} else if err := tx.Stmt(l.chainStmt).QueryRow().Scan(&prev, &seq); err != nil {
		return fmt.Errorf("audit: %w", err)
	}
	at := nanos(l.now())
	h := rowHash(l.chainKey, prev, seq, kind, ref, content, at)
	if _, err := l.exec(tx, qAppendAudit, seq, kind, ref, content, at, h); err != nil {
		return fmt.Errorf("audit: %w", err)
	}
	if t.tx == tx {
		l.tipMu.Lock()
		if l.tip.tx == tx {
			l.tip.prev, l.tip.seq = h, seq
		}
		l.tipMu.Unlock()
	}
	return nil
}

// fileContent is the canonical content of a file as the chain covers it:
// the facts the privacy answers read, not its progress (state, errors).
const fileAudited = `id, job, partner, dir, name, size, mtime, sha256, rows, rejected,
	EXISTS (SELECT 1 FROM unread u WHERE u.file_id = files.id)`

func scanFileContent(s scanner) (int64, string, error) {
	var id, size, mtime, rows, rejected int64
	var job, partner, dir, name, sha string
	var unread bool
	if err := s.Scan(&id, &job, &partner, &dir, &name, &size, &mtime, &sha, &rows, &rejected, &unread); err != nil {
		return 0, "", err
	}
	return id, fileContent(id, job, partner, dir, name, size, mtime, sha, rows, rejected, unread), nil
}

// fileContent is the canonical content of a file with these facts.
func fileContent(id int64, job, partner, dir, name string, size, mtime int64, sha string, rows, rejected int64, unread bool) string {
	return canonical(id, job, partner, dir, name, size, mtime, sha, rows, rejected, unread)
}

// auditFile appends the facts of file id, as they stand in tx, to the
// chain.
func (l *Ledger) auditFile(tx *sql.Tx, id int64) error {
	_, c, err := scanFileContent(l.queryRowTx(tx, qFileAudited, id))
	if err != nil {
		return fmt.Errorf("audit file %d: %w", id, err)
	}
	return l.appendAudit(tx, auditFile, strconv.FormatInt(id, 10), c)
}

// auditFileGone marks file id deleted on the chain.
func (l *Ledger) auditFileGone(tx *sql.Tx, id int64) error {
	return l.appendAudit(tx, auditFile, strconv.FormatInt(id, 10), auditPurged)
}

// deletePurgedFiles marks the files a purge removes (purgeVictims, with
// the cutoff f) purged on the chain, in id order, and deletes them with
// their deliveries, subjects and unread marks.
func (l *Ledger) deletePurgedFiles(tx *sql.Tx, f int64) error {
	ids, err := strings2(tx, `SELECT 'file', CAST(id AS TEXT) FROM files WHERE id IN (`+purgeVictims+`) ORDER BY id`, f, f)
	if err != nil {
		return err
	}
	for _, r := range ids {
		if err := l.appendAudit(tx, r[0], r[1], auditPurged); err != nil {
			return err
		}
	}
	_, err = tx.Exec(`DELETE FROM files WHERE id IN (`+purgeVictims+`)`, f, f)
	return err
}

// deliveryContent is the canonical content of a delivery. The time a
// retry superseded it is added only when set, so that the records of a
// ledger before schema version 7 still verify.
func deliveryContent(d *Delivery) string {
	v := []any{d.ID, d.FileID, d.Index, d.Partner, d.Dir, d.Name, d.Mode, d.TempName, d.Size,
		d.SHA256, d.State, nanos(d.StartedAt), nanos(d.DeliveredAt)}
	if !d.SupersededAt.IsZero() {
		v = append(v, nanos(d.SupersededAt))
	}
	return canonical(v...)
}

// auditDelivery appends the state of delivery id to the chain.
func (l *Ledger) auditDelivery(tx *sql.Tx, id int64) error {
	return l.auditDeliveryRow(tx, id)(scanDelivery(l.queryRowTx(tx, qDelivery, id)))
}

// auditDeliveryRow returns a func that appends d, delivery id as a write
// inside tx returned it (a statement's RETURNING deliveryColumns, read
// with scanDelivery), to the chain.
func (l *Ledger) auditDeliveryRow(tx *sql.Tx, id int64) func(d *Delivery, err error) error {
	return func(d *Delivery, err error) error {
		if err != nil {
			return fmt.Errorf("audit delivery %d: %w", id, err)
		}
		return l.appendAudit(tx, auditDelivery, strconv.FormatInt(d.ID, 10), deliveryContent(d))
	}
}

func subjectsRef(fileID int64, idx int) string { return fmt.Sprintf("%d/%d", fileID, idx) }

// subjectsContent returns the canonical content of the subjects of one
// output: their count and the sha256 of their entries (subjectEntry) in
// subjectOrder, each followed by a newline. The pseudonyms themselves
// are not repeated.
func subjectsContent(fileID int64, idx int, sorted []string) string {
	h := sha256.New()
	for _, p := range sorted {
		h.Write([]byte(p))
		h.Write([]byte{'\n'})
	}
	return canonical(fileID, idx, len(sorted), hex.EncodeToString(h.Sum(nil)))
}

// subjectEntry is the SQL expression of one subject row as the chain
// covers it: its pseudonym and, after a tab, the creditor it is keyed on
// ("" when unknown), and after another its case pseudonym when it has one,
// so that none of them can be altered unseen (adding or removing a case
// changes the entry too). A row without a case reads as before schema
// version 6, so that the records of an upgraded ledger still verify.
// Rows are read in subjectOrder.
// The tabs are in the literals (SQLite's char(9) is PostgreSQL's chr(9)).
const subjectEntry = `pseudonym || '` + "\t" + `' || coalesce(creditor, '') ||
	CASE case_pseudonym WHEN '' THEN '' ELSE '` + "\t" + `' || case_pseudonym END`

// wellFormedSubject reports whether a subject row is one the ledger
// writes: a pseudonym and a case pseudonym ("" for none) of 64 lowercase
// hex digits, a creditor (a partner's name, "" when unknown) with no tab,
// newline or other control character. Only such rows have entries that
// read one way (subjectEntry): the chain covers the others, VerifyAudit
// refuses them.
func wellFormedSubject(pseudonym, creditor, casePseudonym string) bool {
	if len(pseudonym) != 64 || !isHex(pseudonym) || casePseudonym != "" && (len(casePseudonym) != 64 || !isHex(casePseudonym)) {
		return false
	}
	return !strings.ContainsFunc(creditor, unicode.IsControl)
}

// subjectOrder is the order of an output's subject rows in the chain.
const subjectOrder = `pseudonym, case_pseudonym`

// auditSubjects appends the subjects of output idx of file fileID to the
// chain.
func (l *Ledger) auditSubjects(tx *sql.Tx, fileID int64, idx int) error {
	rows, err := tx.Query(`SELECT `+subjectEntry+` FROM subjects WHERE file_id = ? AND idx = ? ORDER BY `+subjectOrder, fileID, idx)
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
	if err := l.d.beginWrite(tx); err != nil {
		return fmt.Errorf("ledger: start audit chain: %w", err)
	}
	var done int
	if err := tx.QueryRow(`SELECT count(*) FROM meta WHERE key = 'audit_genesis'`).Scan(&done); err != nil || done > 0 {
		return err
	}
	began := l.now().UTC().Format(time.RFC3339Nano)
	var nf, nd, ns int64
	if err := tx.QueryRow(`SELECT (SELECT count(*) FROM files), (SELECT count(*) FROM deliveries),
		(SELECT count(DISTINCT file_id || '/' || idx) FROM subjects)`).Scan(&nf, &nd, &ns); err != nil {
		return fmt.Errorf("ledger: start audit chain: %w", err)
	}
	if err := l.appendAudit(tx, auditGenesis, "", canonical(began, nf, nd, ns)); err != nil {
		return fmt.Errorf("ledger: start audit chain: %w", err)
	}
	ids := func(q string) ([]int64, error) {
		rows, err := tx.Query(q)
		if err != nil {
			return nil, err
		}
		defer rows.Close()
		var out []int64
		for rows.Next() {
			var id int64
			if err := rows.Scan(&id); err != nil {
				return nil, err
			}
			out = append(out, id)
		}
		return out, rows.Err()
	}
	files, err := ids(`SELECT id FROM files ORDER BY id`)
	if err != nil {
		return fmt.Errorf("ledger: start audit chain: %w", err)
	}
	for _, id := range files {
		if err := l.auditFile(tx, id); err != nil {
			return fmt.Errorf("ledger: start audit chain: %w", err)
		}
	}
	dels, err := ids(`SELECT id FROM deliveries ORDER BY id`)
	if err != nil {
		return fmt.Errorf("ledger: start audit chain: %w", err)
	}
	for _, id := range dels {
		if err := l.auditDelivery(tx, id); err != nil {
			return fmt.Errorf("ledger: start audit chain: %w", err)
		}
	}
	type out struct {
		file int64
		idx  int
	}
	var outs []out
	rows, err := tx.Query(`SELECT DISTINCT file_id, idx FROM subjects ORDER BY file_id, idx`)
	if err != nil {
		return fmt.Errorf("ledger: start audit chain: %w", err)
	}
	for rows.Next() {
		var o out
		if err := rows.Scan(&o.file, &o.idx); err != nil {
			rows.Close()
			return fmt.Errorf("ledger: start audit chain: %w", err)
		}
		outs = append(outs, o)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("ledger: start audit chain: %w", err)
	}
	for _, o := range outs {
		if err := l.auditSubjects(tx, o.file, o.idx); err != nil {
			return fmt.Errorf("ledger: start audit chain: %w", err)
		}
	}
	if _, err := tx.Exec(`INSERT INTO meta (key, value) VALUES ('audit_genesis', ?)`, began); err != nil {
		return fmt.Errorf("ledger: start audit chain: %w", err)
	}
	return tx.Commit()
}

// AuditProblem is one place where the record is not whole.
type AuditProblem struct {
	Seq    int64  // the audit row concerned; 0 if none
	Kind   string // "genesis", "file", "delivery", "subjects", "purge", "action", "checkpoint", "chain" or "anchor"
	Ref    string // the file or delivery id, file_id/idx of an output's subjects, or an anchor's seq
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
	HeadSeq    int64  // the last row; note it, with HeadHash, outside the ledger and pass it back as an Anchor to detect a cut tail
	HeadHash   string //
	Files      int    // files compared with their last record
	Deliveries int    // deliveries compared with their last record
	Outputs    int    // outputs' subjects compared with their last record
	Anchors    []AnchorResult
	Problems   []AuditProblem
}

// An Anchor is a row of the chain noted outside the ledger (a report's
// HeadSeq and HeadHash): the row at Seq must still hold Hash, or have
// gone under a purge checkpoint. A tail cut and re-grown by the daemon
// chains on validly; only an anchor past the cut finds it.
type Anchor struct {
	Seq  int64
	Hash string
}

// ParseAnchor parses an anchor written SEQ:HASH.
func ParseAnchor(s string) (Anchor, error) {
	seq, h, ok := strings.Cut(s, ":")
	n, err := strconv.ParseInt(seq, 10, 64)
	if !ok || err != nil || n <= 0 || len(h) != 64 || !isHex(h) {
		return Anchor{}, fmt.Errorf("anchor %q: want SEQ:HASH, a record number and its 64 lowercase hex digits", s)
	}
	return Anchor{Seq: n, Hash: h}, nil
}

func (a Anchor) String() string { return fmt.Sprintf("%d:%s", a.Seq, a.Hash) }

// What an anchor was found to be.
const (
	AnchorHolds      = "holds"                                     // the row at Seq holds Hash
	AnchorCheckpoint = "holds at the purge checkpoint"             // Seq is the checkpoint's last row, and its hash is Hash
	AnchorPurged     = "purged under the checkpoint, cannot check" // Seq is before the checkpoint's last row
	AnchorBroken     = "broken"                                    // see the report's Problems
)

// AnchorResult is what VerifyAudit found of one anchor.
type AnchorResult struct {
	Anchor
	Status string
}

// OK reports whether the chain is whole and every record matches it.
func (r *AuditReport) OK() bool { return len(r.Problems) == 0 }

// VerifyAudit checks the audit chain from the purge checkpoint (if any) to
// its head, and then every delivery and every output's subjects against
// their last audited state, in one read transaction: it is safe while
// another process writes. It returns an error only when it cannot read;
// what does not match is in the report's Problems, in chain order.
//
// Each anchor is checked against the chain: one whose row holds another
// hash, is missing, or lies beyond the head is a problem; one under the
// purge checkpoint is checked against the checkpoint if it is its last
// row, and otherwise reported as purged, not a problem.
func (l *Ledger) VerifyAudit(anchors ...Anchor) (*AuditReport, error) {
	tx, err := l.d.beginRead(l.db)
	if err != nil {
		return nil, fmt.Errorf("ledger: verify audit: %w", err)
	}
	defer tx.Rollback()
	r, err := l.verify(tx, anchors)
	if err != nil {
		return nil, fmt.Errorf("ledger: verify audit: %w", err)
	}
	return r, nil
}

func (l *Ledger) verify(tx *sql.Tx, anchors []Anchor) (*AuditReport, error) {
	key := l.chainKey
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
	anchored := map[int64]string{} // seq → hash, of the anchored rows
	for _, a := range anchors {
		anchored[a.Seq] = ""
	}
	expect := upto + 1 // the seq the next row must have
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
		} else if seq > expect {
			r.Problems = append(r.Problems, AuditProblem{Seq: seq, Kind: kind, Ref: ref,
				Reason: fmt.Sprintf("records %d to %d are missing before it: the chain was cut or rows removed", expect, seq-1)})
		}
		expect = max(expect, seq+1)
		if _, ok := anchored[seq]; ok {
			anchored[seq] = h
		}
		if want := rowHash(key, prev, seq, kind, ref, content, at); !hmac.Equal([]byte(h), []byte(want)) {
			r.Problems = append(r.Problems, AuditProblem{Seq: seq, Kind: kind, Ref: ref,
				Reason: "the chain breaks here: this record, or the one before it, was altered, inserted or removed"})
		}
		prev = h
		r.HeadSeq, r.HeadHash = seq, h
		if kind != auditPurge && kind != auditGenesis {
			latest[kind+"/"+ref], latestSeq[kind+"/"+ref] = content, seq
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if r.Records == 0 {
		// The chain begins with its genesis record, and a purge leaves
		// its own record after the checkpoint: it is never empty.
		r.Problems = append(r.Problems, AuditProblem{Kind: "chain",
			Reason: "the audit record is empty: it was wiped"})
	}
	for _, a := range anchors {
		r.Anchors = append(r.Anchors, l.checkAnchor(r, a, upto, last, anchored[a.Seq]))
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
	if err := verifyFiles(tx, r, check); err != nil {
		return nil, err
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
	if err := verifyActions(tx, check); err != nil {
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

// checkAnchor checks anchor a against the chain read: got is the hash of
// the row at a.Seq, "" if there is none.
func (l *Ledger) checkAnchor(r *AuditReport, a Anchor, upto int64, last, got string) AnchorResult {
	res := AnchorResult{Anchor: a, Status: AnchorBroken}
	ref := strconv.FormatInt(a.Seq, 10)
	broken := func(reason string) AnchorResult {
		r.Problems = append(r.Problems, AuditProblem{Seq: a.Seq, Kind: "anchor", Ref: ref, Reason: reason})
		return res
	}
	switch {
	case upto > 0 && a.Seq < upto:
		res.Status = AnchorPurged
	case upto > 0 && a.Seq == upto:
		if !hmac.Equal([]byte(last), []byte(a.Hash)) {
			return broken("the purge checkpoint's last record does not have the noted hash: the chain was cut and rewritten before it")
		}
		res.Status = AnchorCheckpoint
	case got == "" && a.Seq > r.HeadSeq:
		return broken(fmt.Sprintf("the noted record is beyond the head %d: the tail of the chain was cut", r.HeadSeq))
	case got == "":
		return broken("the noted record is missing")
	case !hmac.Equal([]byte(got), []byte(a.Hash)):
		return broken("the record does not hold the noted hash: the chain was cut and rewritten from before it")
	default:
		res.Status = AnchorHolds
	}
	return res
}

// verifyFiles checks each file's audited facts.
func verifyFiles(tx *sql.Tx, r *AuditReport, check func(kind, ref, got string)) error {
	rows, err := tx.Query(`SELECT ` + fileAudited + ` FROM files ORDER BY id`)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		id, c, err := scanFileContent(rows)
		if err != nil {
			return err
		}
		r.Files++
		check(auditFile, strconv.FormatInt(id, 10), c)
	}
	return rows.Err()
}

// verifySubjects checks each output's subjects, read in order.
func (l *Ledger) verifySubjects(tx *sql.Tx, r *AuditReport, check func(kind, ref, got string)) error {
	rows, err := tx.Query(`SELECT file_id, idx, ` + subjectEntry + `, pseudonym, coalesce(creditor, ''), case_pseudonym
		FROM subjects ORDER BY file_id, idx, ` + subjectOrder)
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
		var p, pseudonym, creditor, casePseudonym string
		if err := rows.Scan(&file, &idx, &p, &pseudonym, &creditor, &casePseudonym); err != nil {
			return err
		}
		if !wellFormedSubject(pseudonym, creditor, casePseudonym) {
			// Its entry could read as another row's: one that moved the
			// case into the creditor, say. The ledger writes none such.
			r.Problems = append(r.Problems, AuditProblem{Kind: auditSubjects, Ref: subjectsRef(file, idx),
				Reason: "a subject row the ledger never writes (malformed pseudonym, creditor or case): altered outside the ledger"})
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
	l := &Ledger{shared: &shared{db: db, now: time.Now, d: sqliteDialect{}}}
	if err := l.initReadOnly(path); err != nil {
		db.Close()
		return nil, err
	}
	return l, nil
}

func (l *Ledger) initReadOnly(path string) error {
	if err := l.currentReadOnly(); err != nil {
		return fmt.Errorf("ledger: open %q: %w", path, err)
	}
	var want string
	if err := l.db.QueryRow(`SELECT value FROM meta WHERE key = 'key_fingerprint'`).Scan(&want); err != nil {
		return fmt.Errorf("ledger: open %q: read key fingerprint: %w", path, err)
	}
	key, err := readKey(path + ".key")
	if err != nil {
		return fmt.Errorf("%w: %s: %v", ErrKey, path+".key", err)
	}
	if !hmac.Equal([]byte(fingerprint(key)), []byte(want)) {
		return fmt.Errorf("%w: %s.key is not this ledger's key", ErrKey, path)
	}
	l.setKey(key)
	return l.prepare(path) // File and Deliveries read through the hot statements
}

// currentReadOnly returns an error unless the schema is this build's and
// the audit chain started: what a reader needs.
func (l *Ledger) currentReadOnly() error {
	ms, err := migrations(l.d)
	if err != nil {
		return err
	}
	v, err := l.SchemaVersion()
	if err != nil {
		return err
	}
	if v != len(ms) {
		return fmt.Errorf("schema version %d, this build reads %d: run the daemon of this version once first", v, len(ms))
	}
	var genesis string
	if err := l.db.QueryRow(`SELECT value FROM meta WHERE key = 'audit_genesis'`).Scan(&genesis); err != nil {
		return fmt.Errorf("the audit chain is not started: run the daemon of this version once first: %w", err)
	}
	return nil
}
