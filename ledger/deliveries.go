package ledger

import (
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"time"
)

const deliveryColumns = `id, file_id, idx, partner, dir, name, mode, temp_name, size, sha256,
	state, started_at, delivered_at, superseded_at`

func scanDelivery(s scanner) (*Delivery, error) {
	var d Delivery
	var started int64
	var delivered, superseded sql.NullInt64
	err := s.Scan(&d.ID, &d.FileID, &d.Index, &d.Partner, &d.Dir, &d.Name, &d.Mode, &d.TempName, &d.Size,
		&d.SHA256, &d.State, &started, &delivered, &superseded)
	if err != nil {
		return nil, err
	}
	d.StartedAt, d.DeliveredAt, d.SupersededAt = fromNanos(started), fromNull(delivered), fromNull(superseded)
	return &d, nil
}

// StartDelivery records, before the upload begins, that output d.Index of
// file d.FileID is about to be sent to d.Partner: in d.Mode (ModeTemp if
// ""), uploaded under d.TempName and renamed to d.Name in d.Dir, or
// written under d.Name directly, with the expected d.Size and d.SHA256
// (hex, or "" if not known yet). From then on it is a disclosure, sent
// (see Disclosures). It returns the delivery's id (also set in d.ID) in
// DeliveryStarted; StartedAt defaults to now. A second delivery for the
// same file and index wraps ErrExists: look it up with Deliveries to
// resume it. An unknown file wraps ErrNotFound.
func (l *Ledger) StartDelivery(d *Delivery) (int64, error) {
	return l.startDelivery(d, nil)
}

// StartTransformedDelivery is StartDelivery of a file's first delivery
// together with the record of its transformed step (MarkTransformed of
// d.FileID, unread as given), in one write: nothing lies between them.
func (l *Ledger) StartTransformedDelivery(d *Delivery, unread bool) (int64, error) {
	return l.startDelivery(d, func(tx *sql.Tx) error { return l.markTransformed(tx, d.FileID, unread) })
}

// startDelivery is StartDelivery, with before, if set, written first in
// the same transaction.
func (l *Ledger) startDelivery(d *Delivery, before func(tx *sql.Tx) error) (int64, error) {
	if d.Partner == "" || d.Name == "" {
		return 0, fmt.Errorf("ledger: start delivery of file %d: partner and name are required", d.FileID)
	}
	mode := d.Mode
	if mode == "" {
		mode = ModeTemp
	}
	if mode != ModeTemp && mode != ModeDirect {
		return 0, fmt.Errorf("ledger: start delivery of file %d: unknown mode %q", d.FileID, mode)
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
		if before != nil {
			if err := before(tx); err != nil {
				return err
			}
		} else if _, _, _, err := l.fileState(tx, d.FileID); err != nil {
			return err
		}
		row, err := scanDelivery(l.queryRowTx(tx, qStartDelivery, d.FileID, d.Index, d.Partner, d.Dir, d.Name, mode, d.TempName, d.Size, d.SHA256,
			DeliveryStarted, nanos(started)))
		if l.d.isConstraint(err) {
			return fmt.Errorf("index %d: %w", d.Index, ErrExists)
		}
		if err != nil {
			return err
		}
		id = row.ID
		return l.auditDeliveryRow(tx, id)(row, nil)
	})
	if err != nil {
		return 0, fmt.Errorf("ledger: start delivery of file %d: %w", d.FileID, err)
	}
	d.ID, d.Mode, d.State, d.StartedAt, d.DeliveredAt = id, mode, DeliveryStarted, started, time.Time{}
	return id, nil
}

// MarkCreating records that direct delivery id is about to send the
// exclusive create of its final name: until the answer is known (then
// MarkWriting, or RestartDelivery if the name was taken), a file under
// that name may be one our create made. Marking a creating delivery again
// does nothing; one past it wraps ErrState.
func (l *Ledger) MarkCreating(id int64) error {
	return l.advanceDelivery(id, DeliveryCreating, DeliveryStarted)
}

// MarkWriting records that direct delivery id has created its file under
// the final name, before any byte is written to it: from then on what
// stands under that name is ours, maybe partial, and a resume may remove
// it. Marking a writing delivery again does nothing; one uploaded or
// delivered wraps ErrState.
func (l *Ledger) MarkWriting(id int64) error {
	return l.advanceDelivery(id, DeliveryWriting, DeliveryStarted, DeliveryCreating)
}

// MarkUploaded records that delivery id is complete: under its temporary
// name with its size checked, so that a restart renames it rather than
// uploading it again, or (direct) under its final name, so that a restart
// writes only its sidecars. Marking an uploaded delivery again does
// nothing; a delivered one wraps ErrState.
func (l *Ledger) MarkUploaded(id int64) error {
	return l.advanceDelivery(id, DeliveryUploaded, DeliveryStarted, DeliveryWriting)
}

// advanceDelivery moves delivery id to state to from one of from; a
// delivery already in to is left as it is.
func (l *Ledger) advanceDelivery(id int64, to string, from ...string) error {
	err := l.update(func(tx *sql.Tx) error {
		d, err := scanDelivery(l.queryRowTx(tx, qAdvanceIf, to, id, from[0], from[len(from)-1]))
		if err == nil {
			return l.auditDeliveryRow(tx, id)(d, nil)
		} else if !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		// In none of from: why.
		state, _, _, err := l.deliveryState(tx, id)
		if err != nil {
			return err
		}
		if state == to {
			return nil
		}
		if !slices.Contains(from, state) {
			return fmt.Errorf("delivery is %s: %w", state, ErrState)
		}
		return l.auditDeliveryRow(tx, id)(scanDelivery(l.queryRowTx(tx, qMarkUploaded, to, id)))
	})
	if err != nil {
		return fmt.Errorf("ledger: mark delivery %d %s: %w", id, to, err)
	}
	return nil
}

// RestartDelivery records that delivery id, not yet delivered, starts
// again from DeliveryStarted in mode (ModeTemp or ModeDirect): the
// destination's delivery mode was changed while it was under way, or (a
// creating one) its create was answered with the name taken. Its temp
// name is kept on record. A delivered one wraps ErrState.
func (l *Ledger) RestartDelivery(id int64, mode string) error {
	if mode != ModeTemp && mode != ModeDirect {
		return fmt.Errorf("ledger: restart delivery %d: unknown mode %q", id, mode)
	}
	err := l.update(func(tx *sql.Tx) error {
		state, _, _, err := l.deliveryState(tx, id)
		if err != nil {
			return err
		}
		if state == DeliveryDelivered {
			return fmt.Errorf("delivery is %s: %w", state, ErrState)
		}
		if _, err = l.exec(tx, qRestart, DeliveryStarted, mode, id); err != nil {
			return err
		}
		return l.auditDelivery(tx, id)
	})
	if err != nil {
		return fmt.Errorf("ledger: restart delivery %d: %w", id, err)
	}
	return nil
}

// MarkDelivered records that delivery id (started, writing or uploaded) stands
// under its final name, verified to be size bytes with the given sha256
// (hex; "" keeps the one given to StartDelivery), at time at (now if
// zero). From then on it counts as a confirmed disclosure of the subjects
// its output carries. Marking it again with the same size and sha256 does nothing;
// with others it wraps ErrState.
func (l *Ledger) MarkDelivered(id int64, size int64, sha256 string, at time.Time) error {
	return l.markDelivered(id, size, sha256, at, 0)
}

// MarkDeliveredDone is MarkDelivered of the last delivery of file fileID
// together with the file's move to StateDone (SetState), in one write:
// the caller removes the file's staged copy after it, and the sweep at
// the next start removes one left by a crash in between.
func (l *Ledger) MarkDeliveredDone(id int64, size int64, sha256 string, at time.Time, fileID int64) error {
	return l.markDelivered(id, size, sha256, at, fileID)
}

// markDelivered is MarkDelivered, and, if doneID is not 0, SetState of
// file doneID to StateDone in the same transaction.
func (l *Ledger) markDelivered(id int64, size int64, sha256 string, at time.Time, doneID int64) error {
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
		if sha256 != "" {
			// The usual case, made without a look first.
			d, err := scanDelivery(l.queryRowTx(tx, qMarkDeliveredIf, size, sha256, nanos(at), id))
			if err == nil {
				if err := l.auditDeliveryRow(tx, id)(d, nil); err != nil || doneID == 0 {
					return err
				}
				return l.setState(tx, doneID, StateDone)
			} else if !errors.Is(err, sql.ErrNoRows) {
				return err
			}
		}
		state, oldSize, oldSHA, err := l.deliveryState(tx, id)
		if err != nil {
			return err
		}
		if sha256 == "" {
			sha256 = oldSHA
		}
		switch {
		case state != DeliveryDelivered:
			audit := l.auditDeliveryRow(tx, id)
			if err := audit(scanDelivery(l.queryRowTx(tx, qMarkDelivered, DeliveryDelivered, size, sha256, nanos(at), id))); err != nil {
				return err
			}
		case oldSize != size || oldSHA != sha256:
			return fmt.Errorf("already delivered with another size or sha256: %w", ErrState)
		}
		if doneID != 0 {
			return l.setState(tx, doneID, StateDone)
		}
		return nil
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

// Deliveries returns the current deliveries of file fileID, by index
// (the reject report, -1, first): not those a retry superseded (see
// AllDeliveries).
func (l *Ledger) Deliveries(fileID int64) ([]Delivery, error) {
	out, err := scanDeliveries(l.stmt(qDeliveries).Query(fileID))
	if err != nil {
		return nil, fmt.Errorf("ledger: deliveries of file %d: %w", fileID, err)
	}
	return out, nil
}

// AllDeliveries returns every delivery of file fileID, those a retry
// superseded included, by index and then in the order they began.
func (l *Ledger) AllDeliveries(fileID int64) ([]Delivery, error) {
	out, err := scanDeliveries(l.stmt(qAllDeliveries).Query(fileID))
	if err != nil {
		return nil, fmt.Errorf("ledger: deliveries of file %d: %w", fileID, err)
	}
	return out, nil
}

// scanDeliveries returns the deliveries of rows, the answer of a query of
// deliveryColumns, and closes them.
func scanDeliveries(rows *sql.Rows, err error) ([]Delivery, error) {
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Delivery
	for rows.Next() {
		d, err := scanDelivery(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, *d)
	}
	return out, rows.Err()
}

// DeliveriesTo returns the deliveries to the final name name in dir at
// partner that started or were delivered at or after since, or are not
// delivered yet, in the order they began.
func (l *Ledger) DeliveriesTo(partner, dir, name string, since time.Time) ([]Delivery, error) {
	out, err := scanDeliveries(l.db.Query(`SELECT `+deliveryColumns+` FROM deliveries
		WHERE partner = ? AND dir = ? AND name = ?
			AND (started_at >= ? OR delivered_at >= ? OR state != ?)
		ORDER BY started_at, id`, partner, dir, name, nanos(since), nanos(since), DeliveryDelivered))
	if err != nil {
		return nil, fmt.Errorf("ledger: deliveries to %s:%s: %w", partner, dir, err)
	}
	return out, nil
}

// AddSubjects records that output idx of file fileID carries the data
// subjects with these pseudonyms (see Pseudonym), in one transaction.
// Pseudonyms already recorded for that output are ignored. They count as
// disclosed (sent) once a delivery of that output is started, and as
// confirmed once it is delivered. Anything but a
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
		return l.auditSubjects(tx, fileID, idx)
	})
	if err != nil {
		return fmt.Errorf("ledger: add subjects to file %d output %d: %w", fileID, idx, err)
	}
	return nil
}

// DropSubjects deletes, in one transaction, the data subjects recorded
// for every output of file fileID, and returns how many it deleted: for
// outputs that were discarded before any of them was sent (a file
// rejected whole, or a preparation that failed and will be made again).
// Subjects of an output whose delivery has started are the record of a
// disclosure (see Disclosures) and are never dropped: then nothing is
// deleted and the error wraps ErrState. An unknown file wraps ErrNotFound.
func (l *Ledger) DropSubjects(fileID int64) (int, error) {
	var n int64
	err := l.update(func(tx *sql.Tx) error {
		if _, _, _, err := l.fileState(tx, fileID); err != nil {
			return err
		}
		var sent bool
		if err := tx.QueryRow(`SELECT EXISTS (SELECT 1 FROM subjects s
			JOIN deliveries d ON d.file_id = s.file_id AND d.idx = s.idx
			WHERE s.file_id = ?)`, fileID).Scan(&sent); err != nil {
			return err
		}
		if sent {
			return fmt.Errorf("an output with subjects is being or was delivered: %w", ErrState)
		}
		idxs, err := subjectOutputs(tx, fileID)
		if err != nil {
			return err
		}
		res, err := tx.Exec(`DELETE FROM subjects WHERE file_id = ?`, fileID)
		if err != nil {
			return err
		}
		if n, err = res.RowsAffected(); err != nil {
			return err
		}
		for _, idx := range idxs {
			if err := l.auditSubjects(tx, fileID, idx); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("ledger: drop subjects of file %d: %w", fileID, err)
	}
	return int(n), nil
}

// Disclosures returns every delivery that carried the data subject with
// this pseudonym, in the order they began: who received what, and when.
// A delivery counts from the moment it is started, before its first byte
// leaves, as DisclosureSent, and is DisclosureConfirmed once delivered: a
// delivery that failed or was interrupted may have left some or all of
// the file with its partner, so it is never left out.
func (l *Ledger) Disclosures(pseudonym string) ([]Disclosure, error) {
	rows, err := l.db.Query(`SELECT f.job, d.file_id, d.id, d.idx, d.partner, d.dir, d.name,
			d.sha256, d.state, d.started_at, d.delivered_at
		FROM subjects s
		JOIN deliveries d ON d.file_id = s.file_id AND d.idx = s.idx
		JOIN files f ON f.id = s.file_id
		WHERE s.pseudonym = ?
		ORDER BY d.started_at, d.id`, pseudonym)
	if err != nil {
		return nil, fmt.Errorf("ledger: disclosures: %w", err)
	}
	defer rows.Close()
	var out []Disclosure
	for rows.Next() {
		var d Disclosure
		var state string
		var sent int64
		var at sql.NullInt64
		if err := rows.Scan(&d.Job, &d.FileID, &d.DeliveryID, &d.Index, &d.Partner, &d.Dir, &d.Name,
			&d.SHA256, &state, &sent, &at); err != nil {
			return nil, fmt.Errorf("ledger: disclosures: %w", err)
		}
		d.State, d.SentAt = DisclosureSent, fromNanos(sent)
		if state == DeliveryDelivered {
			d.State, d.DeliveredAt = DisclosureConfirmed, fromNull(at)
		}
		out = append(out, d)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("ledger: disclosures: %w", err)
	}
	return out, nil
}
