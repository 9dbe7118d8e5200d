package ledger

import (
	"database/sql"
	"errors"
	"fmt"
	"time"
)

const deliveryColumns = `id, file_id, idx, partner, dir, name, temp_name, size, sha256,
	state, started_at, delivered_at`

func scanDelivery(s scanner) (*Delivery, error) {
	var d Delivery
	var started int64
	var delivered sql.NullInt64
	err := s.Scan(&d.ID, &d.FileID, &d.Index, &d.Partner, &d.Dir, &d.Name, &d.TempName, &d.Size,
		&d.SHA256, &d.State, &started, &delivered)
	if err != nil {
		return nil, err
	}
	d.StartedAt, d.DeliveredAt = fromNanos(started), fromNull(delivered)
	return &d, nil
}

// StartDelivery records, before the upload begins, that output d.Index of
// file d.FileID is about to be uploaded to d.Partner under d.TempName and
// renamed to d.Name in d.Dir, with the expected d.Size and d.SHA256 (hex,
// or "" if not known yet). It returns the delivery's id (also set in d.ID)
// in DeliveryStarted; StartedAt defaults to now. A second delivery for the
// same file and index wraps ErrExists: look it up with Deliveries to
// resume it. An unknown file wraps ErrNotFound.
func (l *Ledger) StartDelivery(d *Delivery) (int64, error) {
	if d.Partner == "" || d.Name == "" {
		return 0, fmt.Errorf("ledger: start delivery of file %d: partner and name are required", d.FileID)
	}
	if !validSHA(d.SHA256) {
		return 0, fmt.Errorf("ledger: start delivery of file %d: sha256 is not 64 lowercase hex digits", d.FileID)
	}
	if err := checkTime("start time", d.StartedAt); err != nil {
		return 0, err
	}
	started := d.StartedAt
	if started.IsZero() {
		started = l.now()
	}
	var id int64
	err := l.update(func(tx *sql.Tx) error {
		if _, _, _, err := l.fileState(tx, d.FileID); err != nil {
			return err
		}
		res, err := l.exec(tx, qStartDelivery, d.FileID, d.Index, d.Partner, d.Dir, d.Name, d.TempName, d.Size, d.SHA256,
			DeliveryStarted, nanos(started))
		if isConstraint(err) {
			return fmt.Errorf("index %d: %w", d.Index, ErrExists)
		}
		if err != nil {
			return err
		}
		id, err = res.LastInsertId()
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("ledger: start delivery of file %d: %w", d.FileID, err)
	}
	d.ID, d.State, d.StartedAt, d.DeliveredAt = id, DeliveryStarted, started, time.Time{}
	return id, nil
}

// MarkUploaded records that delivery id is complete under its temporary
// name and its size checked, so that a restart renames it rather than
// uploading it again. Marking an uploaded delivery again does nothing; a
// delivered one wraps ErrState.
func (l *Ledger) MarkUploaded(id int64) error {
	err := l.update(func(tx *sql.Tx) error {
		state, _, _, err := l.deliveryState(tx, id)
		if err != nil {
			return err
		}
		switch state {
		case DeliveryUploaded:
			return nil
		case DeliveryStarted:
		default:
			return fmt.Errorf("delivery is %s: %w", state, ErrState)
		}
		_, err = l.exec(tx, qMarkUploaded, DeliveryUploaded, id)
		return err
	})
	if err != nil {
		return fmt.Errorf("ledger: mark delivery %d uploaded: %w", id, err)
	}
	return nil
}

// MarkDelivered records that delivery id (started or uploaded) stands
// under its final name, verified to be size bytes with the given sha256
// (hex; "" keeps the one given to StartDelivery), at time at (now if
// zero). From then on it counts as a disclosure of the subjects its output
// carries. Marking it again with the same size and sha256 does nothing;
// with others it wraps ErrState.
func (l *Ledger) MarkDelivered(id int64, size int64, sha256 string, at time.Time) error {
	if !validSHA(sha256) {
		return fmt.Errorf("ledger: mark delivery %d delivered: sha256 is not 64 lowercase hex digits", id)
	}
	if err := checkTime("delivery time", at); err != nil {
		return err
	}
	if at.IsZero() {
		at = l.now()
	}
	err := l.update(func(tx *sql.Tx) error {
		state, oldSize, oldSHA, err := l.deliveryState(tx, id)
		if err != nil {
			return err
		}
		if sha256 == "" {
			sha256 = oldSHA
		}
		if state == DeliveryDelivered {
			if oldSize == size && oldSHA == sha256 {
				return nil
			}
			return fmt.Errorf("already delivered with another size or sha256: %w", ErrState)
		}
		_, err = l.exec(tx, qMarkDelivered, DeliveryDelivered, size, sha256, nanos(at), id)
		return err
	})
	if err != nil {
		return fmt.Errorf("ledger: mark delivery %d delivered: %w", id, err)
	}
	return nil
}

func (l *Ledger) deliveryState(tx *sql.Tx, id int64) (state string, size int64, sha string, err error) {
	err = l.queryRowTx(tx, qDeliveryState, id).Scan(&state, &size, &sha)
	if errors.Is(err, sql.ErrNoRows) {
		err = ErrNotFound
	}
	return state, size, sha, err
}

// validSHA accepts "" or 64 lowercase hex digits.
func validSHA(s string) bool { return s == "" || len(s) == 64 && isHex(s) }

// Deliveries returns the deliveries of file fileID, by index (the reject
// report, -1, first).
func (l *Ledger) Deliveries(fileID int64) ([]Delivery, error) {
	rows, err := l.stmt(qDeliveries).Query(fileID)
	if err != nil {
		return nil, fmt.Errorf("ledger: deliveries of file %d: %w", fileID, err)
	}
	defer rows.Close()
	var out []Delivery
	for rows.Next() {
		d, err := scanDelivery(rows)
		if err != nil {
			return nil, fmt.Errorf("ledger: deliveries of file %d: %w", fileID, err)
		}
		out = append(out, *d)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("ledger: deliveries of file %d: %w", fileID, err)
	}
	return out, nil
}

// AddSubjects records that output idx of file fileID carries the data
// subjects with these pseudonyms (see Pseudonym), in one transaction.
// Pseudonyms already recorded for that output are ignored. They count as
// disclosed once the delivery of that output is delivered. Anything but a
// 64-digit lowercase hex pseudonym is refused, so that a raw reference
// can never be stored by mistake; the error names its position only.
func (l *Ledger) AddSubjects(fileID int64, idx int, pseudonyms []string) error {
	for i, p := range pseudonyms {
		if len(p) != 64 || !isHex(p) {
			return fmt.Errorf("ledger: add subjects to file %d output %d: pseudonym %d is not 64 lowercase hex digits",
				fileID, idx, i)
		}
	}
	err := l.update(func(tx *sql.Tx) error {
		if _, _, _, err := l.fileState(tx, fileID); err != nil {
			return err
		}
		stmt, err := tx.Prepare(`INSERT INTO subjects (pseudonym, file_id, idx) VALUES (?, ?, ?)
			ON CONFLICT DO NOTHING`)
		if err != nil {
			return err
		}
		defer stmt.Close()
		for _, p := range pseudonyms {
			if _, err := stmt.Exec(p, fileID, idx); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("ledger: add subjects to file %d output %d: %w", fileID, idx, err)
	}
	return nil
}

// Disclosures returns every delivered delivery that carried the data
// subject with this pseudonym, oldest first: who received what, and when.
// Deliveries only started are not disclosures.
func (l *Ledger) Disclosures(pseudonym string) ([]Disclosure, error) {
	rows, err := l.db.Query(`SELECT f.job, d.file_id, d.id, d.idx, d.partner, d.dir, d.name,
			d.sha256, d.delivered_at
		FROM subjects s
		JOIN deliveries d ON d.file_id = s.file_id AND d.idx = s.idx
		JOIN files f ON f.id = s.file_id
		WHERE s.pseudonym = ? AND d.state = 'delivered'
		ORDER BY d.delivered_at, d.id`, pseudonym)
	if err != nil {
		return nil, fmt.Errorf("ledger: disclosures: %w", err)
	}
	defer rows.Close()
	var out []Disclosure
	for rows.Next() {
		var d Disclosure
		var at int64
		if err := rows.Scan(&d.Job, &d.FileID, &d.DeliveryID, &d.Index, &d.Partner, &d.Dir, &d.Name,
			&d.SHA256, &at); err != nil {
			return nil, fmt.Errorf("ledger: disclosures: %w", err)
		}
		d.DeliveredAt = fromNanos(at)
		out = append(out, d)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("ledger: disclosures: %w", err)
	}
	return out, nil
}

// Purge deletes the files that are done or rejected and were last updated
// before before, together with their deliveries and subjects, and returns
// how many files it deleted. Pending files are never purged.
//
// A purged file is forgotten: if its source was kept (after: keep) and is
// still listed, Lookup no longer finds it and it would be imported again.
// Choose a retention longer than any kept source file lives.
func (l *Ledger) Purge(before time.Time) (int, error) {
	if err := checkTime("purge time", before); err != nil {
		return 0, err
	}
	res, err := l.db.Exec(`DELETE FROM files
		WHERE state IN ('done', 'rejected') AND updated_at < ?`, nanos(before))
	if err != nil {
		return 0, fmt.Errorf("ledger: purge: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("ledger: purge: %w", err)
	}
	return int(n), nil
}
