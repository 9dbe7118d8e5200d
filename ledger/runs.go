package ledger

import (
	"context"
	"database/sql"
	"fmt"
	"math"
	"time"
)

// StartRun records the start of a run of job at time at (now if zero) and
// returns its id.
func (l *Ledger) StartRun(job string, at time.Time) (int64, error) {
	if job == "" {
		return 0, fmt.Errorf("ledger: start run: job is required")
	}
	if err := checkTime("run start", at); err != nil {
		return 0, err
	}
	if at.IsZero() {
		at = l.now()
	}
	var id int64
	err := l.update(func(tx *sql.Tx) error {
		return tx.QueryRow(`INSERT INTO runs (job, started_at) VALUES (?, ?) RETURNING id`, job, nanos(at)).Scan(&id)
	})
	if err != nil {
		return 0, fmt.Errorf("ledger: start run of %s: %w", job, err)
	}
	return id, nil
}

// EndedUnrecorded is the error recorded by CloseUnfinished on a run that
// ended without recording its end.
const EndedUnrecorded = "the run ended without recording its end: its node lost the job's lease or stopped"

// CloseUnfinished records every run of job that has not recorded its end
// as interrupted at at (now if zero), with EndedUnrecorded as its error,
// and returns how many it closed. It is for a caller that holds the job's
// lease (a Fenced view): then no other run of job can be under way, and a
// run whose node lost the lease, whose own end was refused as a write no
// longer under the lease, ends here.
func (l *Ledger) CloseUnfinished(job string, at time.Time) (int64, error) {
	if err := checkTime("run finish", at); err != nil {
		return 0, err
	}
	if at.IsZero() {
		at = l.now()
	}
	var n int64
	err := l.update(func(tx *sql.Tx) error {
		res, err := tx.Exec(`UPDATE runs SET finished_at = ?, outcome = 'interrupted', error = ?
			WHERE job = ? AND finished_at IS NULL`, nanos(at), EndedUnrecorded, job)
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("ledger: close unfinished runs of %s: %w", job, err)
	}
	return n, nil
}

// FinishRun records the end of run id at time at (now if zero): its
// outcome ("ok", "failed", "interrupted"), how many files it handled, and its error,
// which must not hold personal data.
func (l *Ledger) FinishRun(id int64, outcome string, files int, errMsg string, at time.Time) error {
	if outcome == "" {
		return fmt.Errorf("ledger: finish run %d: outcome is required", id)
	}
	if err := checkTime("run finish", at); err != nil {
		return err
	}
	if at.IsZero() {
		at = l.now()
	}
	return l.exec1(fmt.Sprintf("finish run %d", id),
		`UPDATE runs SET finished_at = ?, outcome = ?, files = ?, error = ? WHERE id = ?`,
		nanos(at), outcome, files, errMsg, id)
}

// Runs returns the last limit runs of job, newest first; job "" means
// every job, and limit <= 0 means no limit.
func (l *Ledger) Runs(job string, limit int) ([]Run, error) {
	return l.RunsContext(context.Background(), job, limit)
}

// RunsContext is Runs within ctx.
func (l *Ledger) RunsContext(ctx context.Context, job string, limit int) ([]Run, error) {
	if limit <= 0 {
		limit = math.MaxInt64 // PostgreSQL refuses SQLite's -1
	}
	rows, err := l.db.QueryContext(ctx, `SELECT id, job, started_at, finished_at, outcome, files, error
		FROM runs WHERE ? = '' OR job = ? ORDER BY started_at DESC, id DESC LIMIT ?`, job, job, limit)
	if err != nil {
		return nil, fmt.Errorf("ledger: runs of %s: %w", job, err)
	}
	defer rows.Close()
	var out []Run
	for rows.Next() {
		var r Run
		var started int64
		var finished sql.NullInt64
		if err := rows.Scan(&r.ID, &r.Job, &started, &finished, &r.Outcome, &r.Files, &r.Error); err != nil {
			return nil, fmt.Errorf("ledger: runs of %s: %w", job, err)
		}
		r.StartedAt, r.FinishedAt = fromNanos(started), fromNull(finished)
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("ledger: runs of %s: %w", job, err)
	}
	return out, nil
}

// LastSuccess returns when the last run of job with outcome "ok" finished,
// and false if it has none on record.
func (l *Ledger) LastSuccess(job string) (time.Time, bool, error) {
	var at sql.NullInt64
	err := l.db.QueryRow(`SELECT MAX(finished_at) FROM runs WHERE job = ? AND outcome = 'ok'`, job).Scan(&at)
	if err != nil {
		return time.Time{}, false, fmt.Errorf("ledger: last success of %s: %w", job, err)
	}
	if !at.Valid {
		return time.Time{}, false, nil
	}
	return fromNanos(at.Int64), true, nil
}
