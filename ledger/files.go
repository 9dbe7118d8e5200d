package ledger

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// stateOrder ranks the states a file moves forward through.
var stateOrder = map[string]int{
	StateStaging:     0,
	StateStaged:      1,
	StateCleaned:     2,
	StateTransformed: 3,
	StateDone:        4,
}

// pending reports whether a file in state s is still on its way.
func pending(s string) bool { return s != StateDone && s != StateRejected }

const fileColumns = `id, job, partner, dir, name, size, mtime, sha256, state,
	rows, rejected, error, attempts, seen_at, updated_at, staged_on, rejecting`

type scanner interface{ Scan(dest ...any) error }

func scanFile(s scanner) (*File, error) {
	var f File
	var mtime, seen, updated, rejecting int64
	err := s.Scan(&f.ID, &f.Job, &f.Partner, &f.Dir, &f.Name, &f.Size, &mtime, &f.SHA256, &f.State,
		&f.Rows, &f.Rejected, &f.Error, &f.Attempts, &seen, &updated, &f.StagedOn, &rejecting)
	if err != nil {
		return nil, err
	}
	f.Rejecting = rejecting != 0
	f.ModTime, f.SeenAt, f.UpdatedAt = fromNanos(mtime), fromNanos(seen), fromNanos(updated)
	return &f, nil
}

// Lookup returns the file of job with this identity: the source partner,
// directory, name, size and modification time as listed. The time is
// compared to the nanosecond, so pass it as the same endpoint lists it
// (SFTP lists whole seconds). It returns the file in whatever state it is,
// or an error wrapping ErrNotFound: a file found here must not be imported
// again.
func (l *Ledger) Lookup(job, partner, dir, name string, size int64, mtime time.Time) (*File, error) {
	if err := checkTime("mtime", mtime); err != nil {
		return nil, err
	}
	row := l.queryRow(qLookup, job, partner, dir, name, size, nanos(mtime))
	f, err := scanFile(row)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("ledger: lookup %s %s:%s/%s: %w", job, partner, dir, name, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("ledger: lookup %s %s:%s/%s: %w", job, partner, dir, name, err)
	}
	return f, nil
}

// AddFile records a newly seen file in StateStaging, before its staged
// copy is written, and returns its id (also set in f.ID). SeenAt and
// UpdatedAt default to now; SHA256, Rows, Rejected, Error and Attempts
// start empty whatever f holds. A file with the same identity (job,
// partner, dir, name, size, mtime) is refused with an error wrapping
// ErrExists.
func (l *Ledger) AddFile(f *File) (int64, error) {
	if f.Job == "" || f.Partner == "" || f.Name == "" {
		return 0, fmt.Errorf("ledger: add file: job, partner and name are required")
	}
	if err := checkTime("mtime", f.ModTime); err != nil {
		return 0, err
	}
	now := l.now()
	if f.SeenAt.IsZero() {
		f.SeenAt = now
	}
	if f.UpdatedAt.IsZero() {
		f.UpdatedAt = now
	}
	var id int64
	err := l.update(func(tx *sql.Tx) error {
		err := l.queryRowTx(tx, qAddFile, f.Job, f.Partner, f.Dir, f.Name, f.Size, nanos(f.ModTime), StateStaging,
			nanos(f.SeenAt), nanos(f.UpdatedAt)).Scan(&id)
		if l.d.isConstraint(err) {
			return ErrExists
		}
		if err != nil {
			return err
		}
		// The row as inserted, with its defaults: no sha256, no rows,
		// not unread (a new id has no mark).
		return l.appendAudit(tx, auditFile, strconv.FormatInt(id, 10),
			fileContent(id, f.Job, f.Partner, f.Dir, f.Name, f.Size, nanos(f.ModTime), "", 0, 0, false))
	})
	if err != nil {
		return 0, fmt.Errorf("ledger: add file %s %s:%s/%s: %w", f.Job, f.Partner, f.Dir, f.Name, err)
	}
	f.ID, f.State = id, StateStaging
	f.SHA256, f.Rows, f.Rejected, f.Error, f.Attempts = "", 0, 0, "", 0
	f.StagedOn, f.Rejecting = "", false
	return id, nil
}

// File returns the file with this id, or an error wrapping ErrNotFound.
func (l *Ledger) File(id int64) (*File, error) {
	f, err := scanFile(l.queryRow(qFile, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("ledger: file %d: %w", id, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("ledger: file %d: %w", id, err)
	}
	return f, nil
}

// fileState reads a file's state inside tx.
func (l *Ledger) fileState(tx *sql.Tx, id int64) (state, sha string, size int64, err error) {
	err = l.queryRowTx(tx, qFileState, id).Scan(&state, &sha, &size)
	if errors.Is(err, sql.ErrNoRows) {
		err = ErrNotFound
	}
	return state, sha, size, err
}

// MarkStaged records that the staged copy of file id is durable, with its
// sha256 (hex) and size, and moves the file from StateStaging to
// StateStaged. A size that differs from the size listed at the source is
// refused with an error wrapping ErrSizeMismatch and the file stays in
// StateStaging. Marking a staged file again with the same sha256 and size
// does nothing; anything else past StateStaging wraps ErrState.
func (l *Ledger) MarkStaged(id int64, sha256 string, size int64) error {
	return l.MarkStagedOn(id, sha256, size, "")
}

// MarkStagedOn is MarkStaged, and records in the same write that node
// holds the staged copy (files.staged_on, as SetStagedOn does; "": left
// as it is): in a cluster no failure can come between the two.
func (l *Ledger) MarkStagedOn(id int64, sha256 string, size int64, node string) error {
	if sha256 == "" || !validSHA(sha256) {
		return fmt.Errorf("ledger: mark file %d staged: sha256 is not 64 lowercase hex digits", id)
	}
	err := l.update(func(tx *sql.Tx) error {
		now := nanos(l.now())
		fid, c, err := scanFileContent(l.queryRowTx(tx, qMarkStagedIf, sha256, now, node, id, size))
		if err == nil {
			return l.appendAudit(tx, auditFile, strconv.FormatInt(fid, 10), c)
		} else if !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		// Not staging, or of another size: why.
		state, oldSHA, listed, err := l.fileState(tx, id)
		if err != nil {
			return err
		}
		if state != StateStaging {
			if state == StateStaged && oldSHA == sha256 && listed == size {
				return nil
			}
			return fmt.Errorf("file is %s: %w", state, ErrState)
		}
		if size != listed {
			return fmt.Errorf("staged %d bytes, listed %d: %w", size, listed, ErrSizeMismatch)
		}
		if _, err = l.exec(tx, qMarkStaged, StateStaged, sha256, nanos(l.now()), node, id); err != nil {
			return err
		}
		return l.auditFile(tx, id)
	})
	if err != nil {
		return fmt.Errorf("ledger: mark file %d staged: %w", id, err)
	}
	return nil
}

// SetState moves file id forward to state: staged → cleaned → transformed
// → done, skipping steps if need be, or from any pending state to
// StateRejected. Setting the state a file already has does nothing, so a
// step may be recorded again after a crash. A backward move, a move out
// of done or rejected, an unknown state, and StateStaging → StateStaged
// (use MarkStaged) wrap ErrState. A file that reaches StateDone has its
// failures cleared (ClearFailures) in the same write.
func (l *Ledger) SetState(id int64, state string) error {
	_, known := stateOrder[state]
	if !known && state != StateRejected {
		return fmt.Errorf("ledger: set file %d state: unknown state %q: %w", id, state, ErrState)
	}
	err := l.update(func(tx *sql.Tx) error { return l.setState(tx, id, state) })
	if err != nil {
		return fmt.Errorf("ledger: set file %d state: %w", id, err)
	}
	return nil
}

// forwardFrom is the condition of a forward move of a file (qSetStateIf):
// from a pending state past staging, ranked as stateOrder, below the
// rank given.
const forwardFrom = `state IN ('staged', 'cleaned', 'transformed')
	AND (CASE state WHEN 'staged' THEN 1 WHEN 'cleaned' THEN 2 ELSE 3 END) < ?`

// setState is SetState's write, inside tx, of a known state.
func (l *Ledger) setState(tx *sql.Tx, id int64, state string) error {
	if o := stateOrder[state]; o > stateOrder[StateStaged] {
		// The usual forward move, made without a look first.
		q := qSetStateIf
		if state == StateDone {
			q = qSetDoneIf
		}
		res, err := l.exec(tx, q, state, nanos(l.now()), id, o)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n == 1 {
			return err
		}
	}
	cur, _, _, err := l.fileState(tx, id)
	if err != nil {
		return err
	}
	switch {
	case cur == state:
		return nil
	case !pending(cur):
		return fmt.Errorf("%s → %s: %w", cur, state, ErrState)
	case state == StateRejected:
	case cur == StateStaging:
		return fmt.Errorf("%s → %s: the staged copy is not recorded (MarkStaged): %w", cur, state, ErrState)
	case stateOrder[state] < stateOrder[cur]:
		return fmt.Errorf("%s → %s: %w", cur, state, ErrState)
	}
	q := qSetState
	if state == StateDone {
		q = qSetDone
	}
	_, err = l.exec(tx, q, state, nanos(l.now()), id)
	return err
}

// MarkTransformed moves file id to StateTransformed, as SetState does,
// and, if unread, marks it unread (MarkUnread) in the same write: a file
// that passes unchanged is transformed once recorded so.
func (l *Ledger) MarkTransformed(id int64, unread bool) error {
	err := l.update(func(tx *sql.Tx) error { return l.markTransformed(tx, id, unread) })
	if err != nil {
		return fmt.Errorf("ledger: mark file %d transformed: %w", id, err)
	}
	return nil
}

func (l *Ledger) markTransformed(tx *sql.Tx, id int64, unread bool) error {
	if err := l.setState(tx, id, StateTransformed); err != nil || !unread {
		return err
	}
	return l.insertUnread(tx, id)
}

// SetCounts records how many rows the transform read from file id and how
// many of them it rejected.
func (l *Ledger) SetCounts(id int64, rows, rejected int) error {
	if rows < 0 || rejected < 0 || rejected > rows {
		return fmt.Errorf("ledger: set file %d counts: %d rejected of %d rows", id, rejected, rows)
	}
	err := l.update(func(tx *sql.Tx) error {
		res, err := tx.Exec(`UPDATE files SET rows = ?, rejected = ?, updated_at = ? WHERE id = ?`,
			rows, rejected, nanos(l.now()), id)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			return cmp.Or(err, ErrNotFound)
		}
		return l.auditFile(tx, id)
	})
	if err != nil {
		return fmt.Errorf("ledger: set file %d counts: %w", id, err)
	}
	return nil
}

// Fail records msg as the last error of file id and counts one more
// consecutive failed attempt, returning the new count. msg must not hold
// personal data: it is stored as given.
func (l *Ledger) Fail(id int64, msg string) (attempts int, err error) {
	err = l.update(func(tx *sql.Tx) error {
		err := l.queryRowTx(tx, qFail, msg, nanos(l.now()), id).Scan(&attempts)
		if errors.Is(err, sql.ErrNoRows) {
			return ErrNotFound
		}
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("ledger: record failure of file %d: %w", id, err)
	}
	return attempts, nil
}

// ClearFailures forgets the last error and the failed attempts of file id,
// after a step succeeded.
func (l *Ledger) ClearFailures(id int64) error {
	return l.exec1(fmt.Sprintf("clear failures of file %d", id),
		`UPDATE files SET error = '', attempts = 0, updated_at = ? WHERE id = ?`, nanos(l.now()), id)
}

// DeleteFile removes file id, which must still be in StateStaging: its
// staged copy never became durable, so the source file is untouched and
// will be seen again. A file in any other state wraps ErrState.
func (l *Ledger) DeleteFile(id int64) error {
	err := l.update(func(tx *sql.Tx) error {
		state, _, _, err := l.fileState(tx, id)
		if err != nil {
			return err
		}
		if state != StateStaging {
			return fmt.Errorf("file is %s: %w", state, ErrState)
		}
		if _, err = tx.Exec(`DELETE FROM files WHERE id = ?`, id); err != nil {
			return err
		}
		return l.auditFileGone(tx, id)
	})
	if err != nil {
		return fmt.Errorf("ledger: delete file %d: %w", id, err)
	}
	return nil
}

// Pending returns the files of job that are neither done nor rejected,
// the longest-seen first.
func (l *Ledger) Pending(job string) ([]File, error) {
	return l.queryFiles(context.Background(), "pending files of "+job, `SELECT `+fileColumns+` FROM files
		WHERE job = ? AND state NOT IN ('done', 'rejected') ORDER BY seen_at, id`, job)
}

// PendingPage returns, as Pending, at most limit of job's pending files
// (limit <= 0: none), and how many job has in all, within ctx.
func (l *Ledger) PendingPage(ctx context.Context, job string, limit int) ([]File, int, error) {
	files, err := l.queryFiles(ctx, "pending files of "+job, `SELECT `+fileColumns+` FROM files
		WHERE job = ? AND state NOT IN ('done', 'rejected') ORDER BY seen_at, id LIMIT ?`, job, max(limit, 0))
	if err != nil {
		return nil, 0, err
	}
	var total int
	if err := l.db.QueryRowContext(ctx, `SELECT count(*) FROM files
		WHERE job = ? AND state NOT IN ('done', 'rejected')`, job).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("ledger: count pending files of %s: %w", job, err)
	}
	return files, max(total, len(files)), nil
}

// queryFiles returns the files query selects (fileColumns), within ctx;
// an error names what.
func (l *Ledger) queryFiles(ctx context.Context, what, query string, args ...any) ([]File, error) {
	rows, err := l.db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("ledger: %s: %w", what, err)
	}
	defer rows.Close()
	var out []File
	for rows.Next() {
		f, err := scanFile(rows)
		if err != nil {
			return nil, fmt.Errorf("ledger: %s: %w", what, err)
		}
		out = append(out, *f)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("ledger: %s: %w", what, err)
	}
	return out, nil
}

// PendingCount returns, per job, how many files are neither done nor
// rejected. Jobs with none are absent.
func (l *Ledger) PendingCount() (map[string]int, error) {
	rows, err := l.db.Query(`SELECT job, count(*) FROM files
		WHERE state NOT IN ('done', 'rejected') GROUP BY job`)
	if err != nil {
		return nil, fmt.Errorf("ledger: count pending files: %w", err)
	}
	defer rows.Close()
	out := make(map[string]int)
	for rows.Next() {
		var job string
		var n int
		if err := rows.Scan(&job, &n); err != nil {
			return nil, fmt.Errorf("ledger: count pending files: %w", err)
		}
		out[job] = n
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("ledger: count pending files: %w", err)
	}
	return out, nil
}

// exec1 runs a statement that must change exactly one row; none wraps
// ErrNotFound.
func (l *Ledger) exec1(op, query string, args ...any) error {
	err := l.update(func(tx *sql.Tx) error {
		res, err := tx.Exec(query, args...)
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		if err == nil && n == 0 {
			err = ErrNotFound
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("ledger: %s: %w", op, err)
	}
	return nil
}

func isHex(s string) bool {
	for _, c := range s {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// RejectTotals counts, over every file in the ledger, what the transform
// read and left out.
type RejectTotals struct {
	Files         int // files on record
	Rows          int // rows read
	WholeFiles    int // files rejected whole (state rejected)
	RejectedRows  int // rows rejected from the files not rejected whole
	RejectedFiles int // files not rejected whole with a row rejected
}

// Rejects returns the ledger's RejectTotals in one query.
func (l *Ledger) Rejects() (RejectTotals, error) {
	var t RejectTotals
	err := l.db.QueryRow(`SELECT count(*), coalesce(sum(rows), 0),
		coalesce(sum(CASE WHEN state = 'rejected' THEN 1 ELSE 0 END), 0),
		coalesce(sum(CASE WHEN state <> 'rejected' THEN rejected ELSE 0 END), 0),
		coalesce(sum(CASE WHEN state <> 'rejected' AND rejected > 0 THEN 1 ELSE 0 END), 0)
		FROM files`).Scan(&t.Files, &t.Rows, &t.WholeFiles, &t.RejectedRows, &t.RejectedFiles)
	if err != nil {
		return RejectTotals{}, fmt.Errorf("ledger: count rejects: %w", err)
	}
	return t, nil
}

// Listed is a file as a source lists it: its identity within a job's
// source directory (see Lookup).
type Listed struct {
	Name    string
	Size    int64
	ModTime time.Time
}

// importedChunk is how many names one query of Imported asks about.
const importedChunk = 500

// Imported reports, for each file listed in dir at partner for job,
// whether it was imported before: recorded in any state (Lookup finds
// it), or recorded and since purged (Kept). Such a file must not be
// imported again. It asks a few queries for a whole listing, where Lookup
// and Kept ask two for each file.
func (l *Ledger) Imported(job, partner, dir string, listed []Listed) ([]bool, error) {
	type identity struct {
		name        string
		size, mtime int64
	}
	for _, f := range listed {
		if err := checkTime("mtime", f.ModTime); err != nil {
			return nil, err
		}
	}
	seen := make(map[identity]bool)
	for start := 0; start < len(listed); start += importedChunk {
		chunk := listed[start:min(start+importedChunk, len(listed))]
		// The whole identity in SQL, served by the UNIQUE index: a name
		// a creditor reuses every day does not read its history.
		args := make([]any, 0, 2*(3+3*len(chunk)))
		ids := "(CAST(? AS TEXT), CAST(? AS BIGINT), CAST(? AS BIGINT))"
		ids += strings.Repeat(", "+ids, len(chunk)-1)
		for range 2 {
			args = append(args, job, partner, dir)
			for _, f := range chunk {
				args = append(args, f.Name, f.Size, nanos(f.ModTime))
			}
		}
		rows, err := l.db.Query(`SELECT name, size, mtime FROM files
			WHERE job = ? AND partner = ? AND dir = ? AND (name, size, mtime) IN (VALUES `+ids+`)
			UNION ALL SELECT name, size, mtime FROM kept
			WHERE job = ? AND partner = ? AND dir = ? AND (name, size, mtime) IN (VALUES `+ids+`)`, args...)
		if err != nil {
			return nil, fmt.Errorf("ledger: imported %s %s:%s: %w", job, partner, dir, err)
		}
		for rows.Next() {
			var id identity
			if err := rows.Scan(&id.name, &id.size, &id.mtime); err != nil {
				rows.Close()
				return nil, fmt.Errorf("ledger: imported %s %s:%s: %w", job, partner, dir, err)
			}
			seen[id] = true
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("ledger: imported %s %s:%s: %w", job, partner, dir, err)
		}
	}
	out := make([]bool, len(listed))
	for i, f := range listed {
		out[i] = seen[identity{f.Name, f.Size, nanos(f.ModTime)}]
	}
	return out, nil
}
