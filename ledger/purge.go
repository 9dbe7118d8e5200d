package ledger

import (
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// PurgeOptions says what a purge removes.
type PurgeOptions struct {
	// Files: the files that are done or rejected and were last updated
	// before Files go, with their deliveries and their subjects (the
	// record of their disclosures). Zero purges no file.
	Files time.Time
	// Runs: the finished runs that finished before Runs go. Zero purges
	// no run.
	Runs time.Time
	// DryRun counts what would go and changes nothing.
	DryRun bool
}

// PurgeResult counts the rows a purge removed (or, dry, would remove).
type PurgeResult struct {
	Files      int `json:"files"`
	Deliveries int `json:"deliveries"`
	Subjects   int `json:"subjects"`
	Runs       int `json:"runs"`
	Actions    int `json:"actions"` // operators' actions on the purged files (see FileActions)
	Kept       int `json:"kept"`    // identities of purged files recorded (see Kept)
	Audit      int `json:"audit"`   // audit rows removed from the head of the chain (not counted when dry)
}

// purgeVictims selects the files a purge removes; its two arguments are
// the cutoff in nanoseconds, twice.
const purgeVictims = `SELECT id FROM files
	WHERE state IN ('done', 'rejected') AND updated_at < ? AND CAST(? AS BIGINT) > 0`

// purgeActions selects the actions a purge removes: those on the files it
// removes, and those taken before the cutoff on a file no longer in the
// ledger (purged before actions were); its four arguments are the cutoff
// in nanoseconds, four times.
const purgeActions = `SELECT id FROM file_actions
	WHERE file_id IN (` + purgeVictims + `)
		OR (file_id NOT IN (SELECT id FROM files) AND at < ? AND CAST(? AS BIGINT) > 0)`

// Purge removes what o says, in one transaction, and returns the counts.
// A pending file (neither done nor rejected: staged, failing, waiting for
// a destination) is never purged, nor are its deliveries and subjects.
//
// Every purged file leaves its identity (job, partner, dir, name, size,
// mtime, sha256: no row of it) in the kept table, whatever its job's
// after: says now or said then: a job changed from keep to delete or move
// leaves the files it imported under keep at the source, and only the
// identity stops them being imported again once their record is gone
// (see Kept). The kept table has no retention of its own: its names are
// metadata, kept for as long as a source may stand, which the ledger
// cannot know.
//
// The operators' actions on a purged file (retry, abandon: who and why)
// go with it, and so do those on a file purged before, once taken before
// the cutoff: an action lives as long as its file's record, so that the
// head of the audit chain can be removed past it.
//
// Each purged file, delivery, output's subjects and action is marked
// purged on the audit chain. The head of the chain up to the first row of a record that
// still stands is then removed with the records, and a checkpoint (the
// hash of the last row removed and the running counts, under the chain's
// HMAC) left in their place: the chain verifies from it (VerifyAudit).
// Last, a purge record with the counts and cutoffs joins the chain.
func (l *Ledger) Purge(o PurgeOptions) (PurgeResult, error) {
	if err := checkTime("purge time", o.Files); err != nil {
		return PurgeResult{}, err
	}
	if err := checkTime("purge time", o.Runs); err != nil {
		return PurgeResult{}, err
	}
	var res PurgeResult
	if o.DryRun {
		tx, err := l.d.beginRead(l.db)
		if err != nil {
			return res, fmt.Errorf("ledger: purge: %w", err)
		}
		defer tx.Rollback()
		res, err = countPurge(tx, o)
		if err != nil {
			return res, fmt.Errorf("ledger: purge: %w", err)
		}
		return res, nil
	}
	err := l.update(func(tx *sql.Tx) error {
		var err error
		if res, err = countPurge(tx, o); err != nil {
			return err
		}
		return l.purge(tx, o, &res)
	})
	if err != nil {
		return PurgeResult{}, fmt.Errorf("ledger: purge: %w", err)
	}
	return res, nil
}

// countPurge counts what o removes, and the identities it records that
// the kept table does not hold yet.
func countPurge(q queryer, o PurgeOptions) (PurgeResult, error) {
	var r PurgeResult
	f, rn := nanos(o.Files), nanos(o.Runs)
	err := q.QueryRow(`SELECT
		(SELECT count(*) FROM files WHERE id IN (`+purgeVictims+`)),
		(SELECT count(*) FROM deliveries WHERE file_id IN (`+purgeVictims+`)),
		(SELECT count(*) FROM (SELECT DISTINCT pseudonym, file_id, idx FROM subjects WHERE file_id IN (`+purgeVictims+`)) AS s),
		(SELECT count(*) FROM runs WHERE finished_at IS NOT NULL AND finished_at < ? AND CAST(? AS BIGINT) > 0),
		(SELECT count(*) FROM file_actions WHERE id IN (`+purgeActions+`)),
		(SELECT count(*) FROM files f WHERE id IN (`+purgeVictims+`)
			AND NOT EXISTS (SELECT 1 FROM kept k WHERE k.job = f.job AND k.partner = f.partner
				AND k.dir = f.dir AND k.name = f.name AND k.size = f.size AND k.mtime = f.mtime))`,
		f, f, f, f, f, f, rn, rn, f, f, f, f, f, f).
		Scan(&r.Files, &r.Deliveries, &r.Subjects, &r.Runs, &r.Actions, &r.Kept)
	return r, err
}

func (l *Ledger) purge(tx *sql.Tx, o PurgeOptions, res *PurgeResult) error {
	f, rn, now := nanos(o.Files), nanos(o.Runs), l.now()
	if _, err := tx.Exec(`INSERT INTO kept (job, partner, dir, name, size, mtime, sha256, purged_at)
		SELECT job, partner, dir, name, size, mtime, sha256, ? FROM files
		WHERE id IN (`+purgeVictims+`)
		ON CONFLICT DO NOTHING`, nanos(now), f, f); err != nil {
		return err
	}
	// Mark each purged record on the chain, in a fixed order.
	refs, err := strings2(tx, `SELECT 'delivery', CAST(id AS TEXT) FROM deliveries
		WHERE file_id IN (`+purgeVictims+`) ORDER BY id`, f, f)
	if err != nil {
		return err
	}
	subj, err := strings2(tx, `SELECT 'subjects', ref FROM (SELECT DISTINCT ref FROM audit
		WHERE kind = 'subjects' AND content != 'purged'
			AND CAST(substr(ref, 1, instr(ref, '/') - 1) AS BIGINT) IN (`+purgeVictims+`)) AS r
		ORDER BY CAST(substr(ref, 1, instr(ref, '/') - 1) AS BIGINT), CAST(substr(ref, instr(ref, '/') + 1) AS BIGINT)`, f, f)
	if err != nil {
		return err
	}
	acts, err := strings2(tx, `SELECT 'action', CAST(id AS TEXT) FROM file_actions
		WHERE id IN (`+purgeActions+`) ORDER BY id`, f, f, f, f)
	if err != nil {
		return err
	}
	for _, r := range append(append(refs, subj...), acts...) {
		if err := l.appendAudit(tx, r[0], r[1], auditPurged); err != nil {
			return err
		}
	}
	if _, err := tx.Exec(`DELETE FROM file_actions WHERE id IN (`+purgeActions+`)`, f, f, f, f); err != nil {
		return err
	}
	if err := l.deletePurgedFiles(tx, f); err != nil {
		return err
	}
	if _, err := tx.Exec(`DELETE FROM runs WHERE finished_at IS NOT NULL AND finished_at < ? AND CAST(? AS BIGINT) > 0`, rn, rn); err != nil {
		return err
	}
	if err := l.checkpoint(tx, now, res); err != nil {
		return err
	}
	b, _ := json.Marshal(struct {
		PurgeResult
		Files int64 `json:"files_before"`
		Runs  int64 `json:"runs_before"`
	}{*res, f, rn})
	return l.appendAudit(tx, auditPurge, now.UTC().Format(time.RFC3339Nano), string(b))
}

// checkpoint removes the head of the audit chain up to the first row of
// a record that still stands (one not marked purged), and records the
// hash of the last row removed, with the running counts, in the
// checkpoint.
func (l *Ledger) checkpoint(tx *sql.Tx, now time.Time, res *PurgeResult) error {
	var first sql.NullInt64
	if err := tx.QueryRow(`SELECT min(a.seq) FROM audit a
		WHERE a.kind NOT IN ('purge', 'genesis') AND NOT EXISTS (SELECT 1 FROM audit b
			WHERE b.kind = a.kind AND b.ref = a.ref AND b.content = 'purged')`).Scan(&first); err != nil {
		return err
	}
	q := `SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1`
	args := []any{}
	if first.Valid {
		q = `SELECT seq, hash FROM audit WHERE seq < ? ORDER BY seq DESC LIMIT 1`
		args = append(args, first.Int64)
	}
	var upto int64
	var last string
	if err := tx.QueryRow(q, args...).Scan(&upto, &last); errors.Is(err, sql.ErrNoRows) {
		return nil // nothing to remove
	} else if err != nil {
		return err
	}
	del, err := tx.Exec(`DELETE FROM audit WHERE seq <= ?`, upto)
	if err != nil {
		return err
	}
	n, err := del.RowsAffected()
	if err != nil {
		return err
	}
	res.Audit = int(n)
	total := PurgeResult{}
	var old string
	if err := tx.QueryRow(`SELECT counts FROM audit_checkpoint WHERE id = 1`).Scan(&old); err == nil {
		_ = json.Unmarshal([]byte(old), &total)
	} else if !errors.Is(err, sql.ErrNoRows) {
		return err
	}
	total.Files += res.Files
	total.Deliveries += res.Deliveries
	total.Subjects += res.Subjects
	total.Runs += res.Runs
	total.Actions += res.Actions
	total.Kept += res.Kept
	total.Audit += res.Audit
	counts, _ := json.Marshal(total)
	at := nanos(now)
	_, err = tx.Exec(`INSERT INTO audit_checkpoint (id, upto_seq, last_hash, counts, at, hash)
		VALUES (1, ?, ?, ?, ?, ?)
		ON CONFLICT (id) DO UPDATE SET upto_seq = excluded.upto_seq, last_hash = excluded.last_hash,
			counts = excluded.counts, at = excluded.at, hash = excluded.hash`,
		upto, last, string(counts), at, checkpointHash(l.chainKey, upto, last, string(counts), at))
	return err
}

// strings2 returns the rows of a query of two text columns.
func strings2(tx *sql.Tx, q string, args ...any) ([][2]string, error) {
	rows, err := tx.Query(q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out [][2]string
	for rows.Next() {
		var r [2]string
		if err := rows.Scan(&r[0], &r[1]); err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// Kept reports whether a file of job with this identity was imported and
// its record since purged (see Purge): it was imported once, and must not
// be imported again. The identity is compared as Lookup compares it.
func (l *Ledger) Kept(job, partner, dir, name string, size int64, mtime time.Time) (bool, error) {
	if err := checkTime("mtime", mtime); err != nil {
		return false, err
	}
	var n int
	err := l.db.QueryRow(`SELECT count(*) FROM kept
		WHERE job = ? AND partner = ? AND dir = ? AND name = ? AND size = ? AND mtime = ?`,
		job, partner, dir, name, size, nanos(mtime)).Scan(&n)
	if err != nil {
		return false, fmt.Errorf("ledger: kept %s %s:%s/%s: %w", job, partner, dir, name, err)
	}
	return n > 0, nil
}
