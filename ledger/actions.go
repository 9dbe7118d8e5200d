package ledger

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"path"
	"strconv"
	"strings"
	"time"
	"unicode"
)

// Operators' actions on a stuck file (exchanged files retry / abandon),
// recorded in table file_actions (schema version 7) and on the audit
// chain.
const (
	ActionRetry   = "retry"   // taken again under the current config
	ActionAbandon = "abandon" // given up: staging removed, source left where it is
)

// MaxReasonLen is the longest reason an action may record, in bytes.
const MaxReasonLen = 500

// FileAction is one operator action on a file.
type FileAction struct {
	ID      int64
	FileID  int64
	Job     string
	Partner string // the file's source partner
	Name    string // the file's source name
	Action  string // ActionRetry or ActionAbandon
	Actor   string // who: the OS user, and the name the operator gave
	Reason  string // why: the operator's text; never personal data (the operator is told so)
	State   string // the file's state before the action
	Detail  string // JSON: what was done and reported
	At      time.Time
}

// Destination is where the config now sends output Index of a file's job
// (-1: its reject report).
type Destination struct {
	Index   int
	Partner string
	Dir     string
	Name    string // the name the output is now delivered under; "": not compared
}

// Stuck returns the files that are neither done nor rejected, the
// longest-seen first: of job only unless job is "", and, by state,
// "failed" those with a recorded failure (attempts > 0), "pending" those
// without, "" all.
func (l *Ledger) Stuck(job, state string) ([]File, error) {
	var cond string
	switch state {
	case "":
	case "failed":
		cond = ` AND attempts > 0`
	case "pending":
		cond = ` AND attempts = 0`
	default:
		return nil, fmt.Errorf("ledger: stuck files: state %q: want pending or failed", state)
	}
	return l.queryFiles(context.Background(), "stuck files", `SELECT `+fileColumns+` FROM files
		WHERE state NOT IN ('done', 'rejected') AND (? = '' OR job = ?)`+cond+`
		ORDER BY seen_at, id`, job, job)
}

// CheckReason refuses a reason that is empty, longer than MaxReasonLen
// bytes, or holds a control character (a newline would forge a line of
// whatever prints it).
func CheckReason(reason string) error {
	switch {
	case strings.TrimSpace(reason) == "":
		return errors.New("a reason is required")
	case len(reason) > MaxReasonLen:
		return fmt.Errorf("the reason is %d bytes, at most %d", len(reason), MaxReasonLen)
	case strings.ContainsFunc(reason, unicode.IsControl):
		return errors.New("the reason holds a control character")
	}
	return nil
}

// checkActor refuses an actor that is empty or holds a control character.
func checkActor(actor string) error {
	if strings.TrimSpace(actor) == "" || len(actor) > MaxReasonLen || strings.ContainsFunc(actor, unicode.IsControl) {
		return errors.New("who acts must be named, in at most 500 bytes without control characters")
	}
	return nil
}

// RetryResult is what Retry did.
type RetryResult struct {
	Action     FileAction
	Superseded []Delivery // the deliveries given up for a fresh one, as they stood
}

// Retry records that an operator has file id taken again under the
// current config, whose destinations for the file's job are current: each
// delivery of the file not yet delivered whose partner or directory is
// not the one current names at its index, or whose index current no
// longer names, is superseded (kept, as the record of what its old
// destination may hold, and never resumed: the next run begins a fresh
// delivery), and the file's failures are cleared (ClearFailures). A
// retry that cannot tell which partner still needs an output is refused
// with ErrState (see retryable). It
// writes the action (ActionRetry, by actor, with reason, which may be "")
// and its audit record in the same transaction. A file that is done or
// rejected wraps ErrState; an unknown one ErrNotFound.
func (l *Ledger) Retry(id int64, current []Destination, actor, reason string) (*RetryResult, error) {
	if err := checkActor(actor); err != nil {
		return nil, fmt.Errorf("ledger: retry file %d: %w", id, err)
	}
	if reason != "" {
		if err := CheckReason(reason); err != nil {
			return nil, fmt.Errorf("ledger: retry file %d: %w", id, err)
		}
	}
	now := l.now()
	var res *RetryResult
	err := l.update(func(tx *sql.Tx) error {
		res = &RetryResult{}
		f, err := pendingFile(tx, id)
		if err != nil {
			return err
		}
		dels, err := scanDeliveries(tx.Query(`SELECT `+deliveryColumns+` FROM deliveries
			WHERE file_id = ? AND superseded_at IS NULL ORDER BY idx`, id))
		if err != nil {
			return err
		}
		if err := retryable(dels, current); err != nil {
			return err
		}
		for _, d := range dels {
			if d.State == DeliveryDelivered || !Changed(d, current) {
				continue
			}
			if _, err := tx.Exec(`UPDATE deliveries SET superseded_at = ? WHERE id = ?`, nanos(now), d.ID); err != nil {
				return err
			}
			if err := l.auditDelivery(tx, d.ID); err != nil {
				return err
			}
			d.SupersededAt = now
			res.Superseded = append(res.Superseded, d)
		}
		if _, err := tx.Exec(`UPDATE files SET error = '', attempts = 0, updated_at = ? WHERE id = ?`,
			nanos(now), id); err != nil {
			return err
		}
		detail := map[string]any{"superseded": supersededDetail(res.Superseded),
			"error": f.Error, "attempts": f.Attempts}
		res.Action, err = l.addAction(tx, f, ActionRetry, actor, reason, detail, now)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("ledger: retry file %d: %w", id, err)
	}
	return res, nil
}

// retryable refuses (ErrState) a retry that cannot tell which partner
// still needs an output: a delivered output whose index the config now
// sends to another partner or directory (the destinations were reordered
// or changed after it went), or an output to be superseded whose new
// destination already received a delivered output of this file.
func retryable(dels []Delivery, current []Destination) error {
	const how = "a retry cannot tell which destination still needs the file: abandon it (exchanged files abandon) and drop the source again"
	for _, d := range dels {
		if !Changed(d, current) {
			continue
		}
		c, named := destinationAt(d.Index, current)
		if d.State == DeliveryDelivered {
			if named {
				return fmt.Errorf("output %d was delivered to %s:%s (delivery %d) and the job now sends it to %s:%s; %s: %w",
					d.Index, d.Partner, d.Dir, d.ID, c.Partner, c.Dir, how, ErrState)
			}
			continue // a destination dropped from the job: it has what it was sent
		}
		if !named {
			continue
		}
		for _, o := range dels {
			if o.State == DeliveryDelivered && SameDestination(o.Partner, o.Dir, c.Partner, c.Dir) {
				return fmt.Errorf("output %d now goes to %s:%s, which already received output %d of this file (delivery %d); %s: %w",
					d.Index, c.Partner, c.Dir, o.Index, o.ID, how, ErrState)
			}
		}
	}
	return nil
}

// destinationAt returns the destination current names at index i.
func destinationAt(i int, current []Destination) (Destination, bool) {
	for _, c := range current {
		if c.Index == i {
			return c, true
		}
	}
	return Destination{}, false
}

// Changed reports whether delivery d was begun for another partner or
// directory, or under another name (an OpenPGP extension added or
// dropped), than current names at its index, or for an index current no
// longer names.
func Changed(d Delivery, current []Destination) bool {
	c, ok := destinationAt(d.Index, current)
	return !ok || !SameDestination(d.Partner, d.Dir, c.Partner, c.Dir) || (c.Name != "" && c.Name != d.Name)
}

// SameDestination reports whether partner p1 directory dir1 and p2 dir2
// are one destination: the directories compared cleaned ("/in" and
// "/in/" are one).
func SameDestination(p1, dir1, p2, dir2 string) bool {
	return p1 == p2 && path.Clean(dir1) == path.Clean(dir2)
}

// MayHold says what the destination of a delivery not delivered may
// hold, by its mode and state: nothing of ours yet, a temp file, or a
// (maybe partial) file under its final name.
func MayHold(d Delivery) string {
	switch {
	case d.State == DeliveryDelivered:
		return "the file under its final name " + d.Name
	case d.Mode == ModeDirect && d.State == DeliveryStarted:
		return "nothing of ours: the create of " + d.Name + " was not sent"
	case d.Mode == ModeDirect:
		return "a possibly partial file under its final name " + d.Name
	case d.State == DeliveryUploaded:
		return "the complete file under its temp name " + d.TempName + ", or under its final name " + d.Name + " if the rename went through"
	default:
		return "a possibly partial file under its temp name " + d.TempName
	}
}

func supersededDetail(ds []Delivery) []map[string]any {
	out := []map[string]any{}
	for _, d := range ds {
		out = append(out, map[string]any{"delivery_id": d.ID, "index": d.Index, "partner": d.Partner,
			"dir": d.Dir, "name": d.Name, "temp_name": d.TempName, "mode": d.Mode, "state": d.State,
			"may_hold": MayHold(d)})
	}
	return out
}

// AbandonResult is what Abandon did.
type AbandonResult struct {
	Action FileAction
	File   File       // the file as it stood before
	Open   []Delivery // its deliveries begun and not delivered: what their destinations may hold
}

// Abandon records that an operator gave up file id: it moves to
// StateRejected (finished: never pending again, its staging no longer
// kept, and, its identity being on record, a source that still stands is
// not taken again), and the action (ActionAbandon, by actor, for reason,
// with detail merged into what is recorded) is written with its audit
// record in the same transaction. The caller removes the staging after:
// should it fail, the sweep at the next start removes it. A file that is
// done or rejected wraps ErrState; an unknown one ErrNotFound.
func (l *Ledger) Abandon(id int64, actor, reason string, detail map[string]any) (*AbandonResult, error) {
	if err := checkActor(actor); err != nil {
		return nil, fmt.Errorf("ledger: abandon file %d: %w", id, err)
	}
	if err := CheckReason(reason); err != nil {
		return nil, fmt.Errorf("ledger: abandon file %d: %w", id, err)
	}
	now := l.now()
	var res *AbandonResult
	err := l.update(func(tx *sql.Tx) error {
		res = &AbandonResult{}
		f, err := pendingFile(tx, id)
		if err != nil {
			return err
		}
		res.File = *f
		res.Open, err = scanDeliveries(tx.Query(`SELECT `+deliveryColumns+` FROM deliveries
			WHERE file_id = ? AND state != ? ORDER BY idx, id`, id, DeliveryDelivered))
		if err != nil {
			return err
		}
		if _, err := l.exec(tx, qSetState, StateRejected, nanos(now), id); err != nil {
			return err
		}
		d := map[string]any{"open_deliveries": supersededDetail(res.Open), "error": f.Error, "attempts": f.Attempts}
		for k, v := range detail {
			d[k] = v
		}
		res.Action, err = l.addAction(tx, f, ActionAbandon, actor, reason, d, now)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("ledger: abandon file %d: %w", id, err)
	}
	return res, nil
}

// addAction writes one action on f and its audit record inside tx.
func (l *Ledger) addAction(tx *sql.Tx, f *File, action, actor, reason string, detail map[string]any, at time.Time) (FileAction, error) {
	b, err := json.Marshal(detail)
	if err != nil {
		return FileAction{}, err
	}
	a := FileAction{FileID: f.ID, Job: f.Job, Partner: f.Partner, Name: f.Name, Action: action,
		Actor: actor, Reason: reason, State: f.State, Detail: string(b), At: at}
	err = tx.QueryRow(`INSERT INTO file_actions (file_id, job, partner, name, action, actor, reason, state, detail, at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
		a.FileID, a.Job, a.Partner, a.Name, a.Action, a.Actor, a.Reason, a.State, a.Detail, nanos(at)).Scan(&a.ID)
	if err != nil {
		return FileAction{}, err
	}
	return a, l.appendAudit(tx, auditAction, strconv.FormatInt(a.ID, 10), actionContent(&a))
}

const actionColumns = `id, file_id, job, partner, name, action, actor, reason, state, detail, at`

func scanAction(s scanner) (*FileAction, error) {
	var a FileAction
	var at int64
	if err := s.Scan(&a.ID, &a.FileID, &a.Job, &a.Partner, &a.Name, &a.Action, &a.Actor, &a.Reason,
		&a.State, &a.Detail, &at); err != nil {
		return nil, err
	}
	a.At = fromNanos(at)
	return &a, nil
}

// actionContent is the canonical content of an action on the chain: the
// whole row.
func actionContent(a *FileAction) string {
	return canonical(a.ID, a.FileID, a.Job, a.Partner, a.Name, a.Action, a.Actor, a.Reason, a.State,
		a.Detail, nanos(a.At))
}

// FileActions returns the actions on file fileID (every file's if
// fileID is 0), in the order they were taken.
func (l *Ledger) FileActions(fileID int64) ([]FileAction, error) {
	rows, err := l.db.Query(`SELECT `+actionColumns+` FROM file_actions
		WHERE CAST(? AS BIGINT) = 0 OR file_id = ? ORDER BY id`, fileID, fileID)
	if err != nil {
		return nil, fmt.Errorf("ledger: file actions: %w", err)
	}
	defer rows.Close()
	var out []FileAction
	for rows.Next() {
		a, err := scanAction(rows)
		if err != nil {
			return nil, fmt.Errorf("ledger: file actions: %w", err)
		}
		out = append(out, *a)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("ledger: file actions: %w", err)
	}
	return out, nil
}

// verifyActions checks each action against its audit record.
func verifyActions(tx *sql.Tx, check func(kind, ref, got string)) error {
	rows, err := tx.Query(`SELECT ` + actionColumns + ` FROM file_actions ORDER BY id`)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		a, err := scanAction(rows)
		if err != nil {
			return err
		}
		check(auditAction, strconv.FormatInt(a.ID, 10), actionContent(a))
	}
	return rows.Err()
}

// pendingFile reads file id in tx: ErrNotFound if unknown, ErrState if
// it is done or rejected.
func pendingFile(tx *sql.Tx, id int64) (*File, error) {
	f, err := scanFile(tx.QueryRow(`SELECT `+fileColumns+` FROM files WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	if !pending(f.State) {
		return nil, fmt.Errorf("file is %s: %w", f.State, ErrState)
	}
	return f, nil
}
