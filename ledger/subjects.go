package ledger

import (
	"database/sql"
	"fmt"
	"strings"
	"time"
)

// Subject is one data subject an output carries: its pseudonym and the
// creditor partner it is keyed on ("" when not known: then it is keyed on
// the file's source partner).
type Subject struct {
	Pseudonym string
	Creditor  string
	// Case is the CasePseudonym of the row's case reference, "" when the
	// row had none. One debtor in one output is recorded once per case.
	Case string
}

// SubjectDisclosure is a Disclosure of one data subject, with the creditor
// its pseudonym is keyed on.
type SubjectDisclosure struct {
	Disclosure
	Source   string // the file's source partner
	Creditor string // "" when not known (legacy, or no creditor in the file)
}

// FileDisclosure is a delivery of a file whose rows were not read (passed
// unchanged): it may have carried any subject of its source.
type FileDisclosure struct {
	Disclosure
	Source string // the file's source partner
}

// AddSubjectsOf records, as AddSubjects, that output idx of file fileID
// carries subs, each with the creditor its pseudonym is keyed on. A
// pseudonym recorded for that output already keeps its creditor.
func (l *Ledger) AddSubjectsOf(fileID int64, idx int, subs []Subject) error {
	for i, s := range subs {
		if len(s.Pseudonym) != 64 || !isHex(s.Pseudonym) {
			return fmt.Errorf("ledger: add subjects to file %d output %d: pseudonym %d is not 64 lowercase hex digits",
				fileID, idx, i)
		}
		if !wellFormedSubject(s.Pseudonym, s.Creditor, s.Case) {
			return fmt.Errorf("ledger: add subjects to file %d output %d: subject %d: a case pseudonym of 64 lowercase hex digits and a creditor without control characters needed",
				fileID, idx, i)
		}
	}
	err := l.update(func(tx *sql.Tx) error {
		if _, _, _, err := l.fileState(tx, fileID); err != nil {
			return err
		}
		stmt, err := tx.Prepare(`INSERT INTO subjects (pseudonym, file_id, idx, creditor, case_pseudonym)
			VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`)
		if err != nil {
			return err
		}
		defer stmt.Close()
		for _, s := range subs {
			if _, err := stmt.Exec(s.Pseudonym, fileID, idx, sql.NullString{String: s.Creditor, Valid: s.Creditor != ""}, s.Case); err != nil {
				return err
			}
		}
		return l.auditSubjects(tx, fileID, idx)
	})
	if err != nil {
		return fmt.Errorf("ledger: add subjects to file %d output %d: %w", fileID, idx, err)
	}
	return nil
}

// MarkUnread records that file fileID is delivered unchanged, its rows not
// read: each of its deliveries is a file-level disclosure (see
// UnreadDisclosures). Marking it again does nothing.
func (l *Ledger) MarkUnread(fileID int64) error {
	err := l.update(func(tx *sql.Tx) error { return l.markUnread(tx, fileID) })
	if err != nil {
		return fmt.Errorf("ledger: mark file %d unread: %w", fileID, err)
	}
	return nil
}

// markUnread is MarkUnread's write, inside tx.
func (l *Ledger) markUnread(tx *sql.Tx, fileID int64) error {
	if _, _, _, err := l.fileState(tx, fileID); err != nil {
		return err
	}
	return l.insertUnread(tx, fileID)
}

// insertUnread marks file fileID, known to exist, unread inside tx.
func (l *Ledger) insertUnread(tx *sql.Tx, fileID int64) error {
	res, err := l.exec(tx, qMarkUnread, fileID)
	if err != nil {
		return err
	}
	if n, err := res.RowsAffected(); err != nil || n == 0 {
		return err // marked already: nothing changed
	}
	return l.auditFile(tx, fileID)
}

const disclosureColumns = `f.job, d.file_id, d.id, d.idx, d.partner, d.dir, d.name,
	d.sha256, d.state, d.started_at, d.delivered_at, f.partner`

func scanDisclosure(s scanner, extra ...any) (Disclosure, string, error) {
	var d Disclosure
	var state, source string
	var sent int64
	var at sql.NullInt64
	dest := append([]any{&d.Job, &d.FileID, &d.DeliveryID, &d.Index, &d.Partner, &d.Dir, &d.Name,
		&d.SHA256, &state, &sent, &at, &source}, extra...)
	if err := s.Scan(dest...); err != nil {
		return d, "", err
	}
	d.State, d.SentAt = DisclosureSent, fromNanos(sent)
	if state == DeliveryDelivered {
		d.State, d.DeliveredAt = DisclosureConfirmed, fromNull(at)
	}
	return d, source, nil
}

// CaseDisclosures returns, as SubjectDisclosures, every delivery that
// carried a subject row of the case with this pseudonym (see
// CasePseudonym), in the order they began, once per delivery and creditor.
func (l *Ledger) CaseDisclosures(casePseudonym string) ([]SubjectDisclosure, error) {
	if casePseudonym == "" {
		return nil, nil
	}
	return l.subjectDisclosures(`s.case_pseudonym = ?`, casePseudonym)
}

// SubjectDisclosures returns, as Disclosures, every delivery that carried
// a subject with one of these pseudonyms, in the order they began, each
// with the creditor the pseudonym was recorded under.
func (l *Ledger) SubjectDisclosures(pseudonyms ...string) ([]SubjectDisclosure, error) {
	if len(pseudonyms) == 0 {
		return nil, nil
	}
	args := make([]any, len(pseudonyms))
	for i, p := range pseudonyms {
		args[i] = p
	}
	return l.subjectDisclosures(`s.pseudonym IN (?`+strings.Repeat(", ?", len(pseudonyms)-1)+`)`, args...)
}

// subjectDisclosures returns the deliveries of the subject rows where
// holds, once per delivery, subject and creditor (a subject with several
// cases in one output is one disclosure).
func (l *Ledger) subjectDisclosures(where string, args ...any) ([]SubjectDisclosure, error) {
	rows, err := l.db.Query(`SELECT `+disclosureColumns+`, s.creditor
		FROM (SELECT DISTINCT pseudonym, file_id, idx, creditor FROM subjects s WHERE `+where+`) s
		JOIN deliveries d ON d.file_id = s.file_id AND d.idx = s.idx
		JOIN files f ON f.id = s.file_id
		ORDER BY d.started_at, d.id`, args...)
	if err != nil {
		return nil, fmt.Errorf("ledger: subject disclosures: %w", err)
	}
	defer rows.Close()
	var out []SubjectDisclosure
	for rows.Next() {
		var creditor sql.NullString
		d, source, err := scanDisclosure(rows, &creditor)
		if err != nil {
			return nil, fmt.Errorf("ledger: subject disclosures: %w", err)
		}
		out = append(out, SubjectDisclosure{Disclosure: d, Source: source, Creditor: creditor.String})
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("ledger: subject disclosures: %w", err)
	}
	return out, nil
}

// UnreadDisclosures returns the deliveries (reject reports aside) of files
// whose rows were not read, in the order they began: those marked unread,
// and those of a ledger before version 4 that carry no subject at all.
func (l *Ledger) UnreadDisclosures() ([]FileDisclosure, error) {
	rows, err := l.db.Query(`SELECT ` + disclosureColumns + `
		FROM deliveries d JOIN files f ON f.id = d.file_id
		WHERE d.idx >= 0 AND (d.file_id IN (SELECT file_id FROM unread)
			OR NOT EXISTS (SELECT 1 FROM subjects s WHERE s.file_id = d.file_id) AND f.rows = 0)
		ORDER BY d.started_at, d.id`)
	if err != nil {
		return nil, fmt.Errorf("ledger: unread disclosures: %w", err)
	}
	defer rows.Close()
	var out []FileDisclosure
	for rows.Next() {
		d, source, err := scanDisclosure(rows)
		if err != nil {
			return nil, fmt.Errorf("ledger: unread disclosures: %w", err)
		}
		out = append(out, FileDisclosure{Disclosure: d, Source: source})
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("ledger: unread disclosures: %w", err)
	}
	return out, nil
}

// BreachDelivery is one delivery in a breach's scope, as counts: never a
// pseudonym, a reference or a value.
type BreachDelivery struct {
	Disclosure
	Source    string         // the file's source partner
	Unread    bool           // passed unchanged: its rows were not read
	Rows      int            // rows the file's transform wrote to each output
	Rejected  int            // rows it rejected (the reject report's rows)
	Subjects  int            // data subjects recorded for this output
	Creditors map[string]int // subjects by the creditor they are keyed on; "" = unknown
}

// BreachScope returns the deliveries to partner that began in [since,
// until) (a zero bound is open), whose final name or source file name is
// name (any if ""), and the number of distinct data subjects over all of
// them.
func (l *Ledger) BreachScope(partner, name string, since, until time.Time) ([]BreachDelivery, int, error) {
	where := `d.partner = ? AND (? = '' OR d.name = ? OR f.name = ?) AND d.started_at >= ?
		AND (CAST(? AS BIGINT) = 0 OR d.started_at < ?)`
	args := []any{partner, name, name, name, nanos(since), nanos(until), nanos(until)}
	rows, err := l.db.Query(`SELECT `+disclosureColumns+`, f.rows, f.rejected,
			EXISTS (SELECT 1 FROM unread u WHERE u.file_id = d.file_id)
		FROM deliveries d JOIN files f ON f.id = d.file_id
		WHERE `+where+` ORDER BY d.started_at, d.id`, args...)
	if err != nil {
		return nil, 0, fmt.Errorf("ledger: breach scope: %w", err)
	}
	var out []BreachDelivery
	for rows.Next() {
		var b BreachDelivery
		d, source, err := scanDisclosure(rows, &b.Rows, &b.Rejected, &b.Unread)
		if err != nil {
			rows.Close()
			return nil, 0, fmt.Errorf("ledger: breach scope: %w", err)
		}
		b.Disclosure, b.Source, b.Rows = d, source, b.Rows-b.Rejected
		out = append(out, b)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, 0, fmt.Errorf("ledger: breach scope: %w", err)
	}
	for i := range out {
		b := &out[i]
		b.Creditors = map[string]int{}
		crows, err := l.db.Query(`SELECT COALESCE(creditor, ''), COUNT(DISTINCT pseudonym) FROM subjects
			WHERE file_id = ? AND idx = ? GROUP BY 1`, b.FileID, b.Index)
		if err != nil {
			return nil, 0, fmt.Errorf("ledger: breach scope: %w", err)
		}
		for crows.Next() {
			var c string
			var n int
			if err := crows.Scan(&c, &n); err != nil {
				crows.Close()
				return nil, 0, fmt.Errorf("ledger: breach scope: %w", err)
			}
			b.Creditors[c], b.Subjects = n, b.Subjects+n
		}
		crows.Close()
		if err := crows.Err(); err != nil {
			return nil, 0, fmt.Errorf("ledger: breach scope: %w", err)
		}
	}
	var total int
	err = l.db.QueryRow(`SELECT COUNT(DISTINCT s.pseudonym) FROM subjects s
		JOIN deliveries d ON d.file_id = s.file_id AND d.idx = s.idx
		JOIN files f ON f.id = d.file_id WHERE `+where, args...).Scan(&total)
	if err != nil {
		return nil, 0, fmt.Errorf("ledger: breach scope: %w", err)
	}
	return out, total, nil
}
