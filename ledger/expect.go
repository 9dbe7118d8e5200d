package ledger

import (
	"database/sql"
	"fmt"
	"strconv"
	"time"
)

// overdueKey is the meta key under which the due time of the last "file
// overdue" announced for a job is kept.
func overdueKey(job string) string { return overduePrefix + job }

// overduePrefix begins every overdueKey.
const overduePrefix = "overdue_announced/"

// LastSeen returns when the last file of job on record was first seen
// (its row written, before staging), and false if none is.
func (l *Ledger) LastSeen(job string) (time.Time, bool, error) {
	var at sql.NullInt64
	if err := l.db.QueryRow(`SELECT MAX(seen_at) FROM files WHERE job = ?`, job).Scan(&at); err != nil {
		return time.Time{}, false, fmt.Errorf("ledger: last file seen of %s: %w", job, err)
	}
	if !at.Valid {
		return time.Time{}, false, nil
	}
	return fromNanos(at.Int64), true, nil
}

// OverdueAnnounced returns the due time of the last overdue file
// announced for job (see SetOverdueAnnounced), or the zero time.
func (l *Ledger) OverdueAnnounced(job string) (time.Time, error) {
	var v string
	err := l.db.QueryRow(`SELECT value FROM meta WHERE key = ?`, overdueKey(job)).Scan(&v)
	if err == sql.ErrNoRows {
		return time.Time{}, nil
	}
	if err != nil {
		return time.Time{}, fmt.Errorf("ledger: overdue announced of %s: %w", job, err)
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return time.Time{}, fmt.Errorf("ledger: overdue announced of %s: malformed %q", job, v)
	}
	return fromNanos(n), nil
}

// SetOverdueAnnounced records that the file of job due at due was
// announced overdue, so that a restart does not announce it again.
func (l *Ledger) SetOverdueAnnounced(job string, due time.Time) error {
	err := l.update(func(tx *sql.Tx) error {
		_, err := tx.Exec(`INSERT INTO meta (key, value) VALUES (?, ?)
			ON CONFLICT (key) DO UPDATE SET value = excluded.value`, overdueKey(job), strconv.FormatInt(nanos(due), 10))
		return err
	})
	if err != nil {
		return fmt.Errorf("ledger: set overdue announced of %s: %w", job, err)
	}
	return nil
}

// ForgetOverdueAnnounced removes what SetOverdueAnnounced recorded for
// every job not in keep (the jobs with an expect in the config now), so
// that the records of deleted jobs do not pile up. A job that gets an
// expect again starts afresh: its current due time, if unmet, is
// announced again.
func (l *Ledger) ForgetOverdueAnnounced(keep []string) error {
	kept := make(map[string]bool, len(keep))
	for _, job := range keep {
		kept[overdueKey(job)] = true
	}
	err := l.update(func(tx *sql.Tx) error {
		rows, err := tx.Query(`SELECT key FROM meta WHERE substr(key, 1, ?) = ?`, len(overduePrefix), overduePrefix)
		if err != nil {
			return err
		}
		var gone []string
		for rows.Next() {
			var key string
			if err := rows.Scan(&key); err != nil {
				rows.Close()
				return err
			}
			if !kept[key] {
				gone = append(gone, key)
			}
		}
		if err := rows.Close(); err != nil {
			return err
		}
		if err := rows.Err(); err != nil {
			return err
		}
		for _, key := range gone {
			if _, err := tx.Exec(`DELETE FROM meta WHERE key = ?`, key); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("ledger: forget overdue announced: %w", err)
	}
	return nil
}
