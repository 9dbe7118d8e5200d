package ledger

import "database/sql"

// The statements every file takes, prepared once when the ledger opens and
// reused: SQLite parses each once, not at every call.
var (
	qLookup = hot(`SELECT ` + fileColumns + ` FROM files
		WHERE job = ? AND partner = ? AND dir = ? AND name = ? AND size = ? AND mtime = ?`)
	qFile    = hot(`SELECT ` + fileColumns + ` FROM files WHERE id = ?`)
	qAddFile = hot(`INSERT INTO files
		(job, partner, dir, name, size, mtime, state, seen_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`)
	qFileState  = hot(`SELECT state, sha256, size FROM files WHERE id = ?`)
	qMarkStaged = hot(`UPDATE files SET state = ?, sha256 = ?, updated_at = ?,
		staged_on = COALESCE(NULLIF(?, ''), staged_on) WHERE id = ?`)
	qSetState = hot(`UPDATE files SET state = ?, updated_at = ? WHERE id = ?`)
	qSetDone  = hot(`UPDATE files SET state = ?, updated_at = ?, error = '', attempts = 0 WHERE id = ?`)

	// The same writes made only from the state they expect, so that the
	// usual case reads nothing first: no row changed, and the caller
	// reads the state to tell why (see MarkStaged, setState).
	qMarkStagedIf = hot(`UPDATE files SET state = 'staged', sha256 = ?, updated_at = ?,
		staged_on = COALESCE(NULLIF(?, ''), staged_on)
		WHERE id = ? AND state = 'staging' AND size = ? RETURNING ` + fileAudited)
	qSetStateIf = hot(`UPDATE files SET state = ?, updated_at = ?
		WHERE id = ? AND ` + forwardFrom)
	qSetDoneIf = hot(`UPDATE files SET state = ?, updated_at = ?, error = '', attempts = 0
		WHERE id = ? AND ` + forwardFrom)
	qMarkUnread = hot(`INSERT INTO unread (file_id) VALUES (?) ON CONFLICT DO NOTHING`)
	qFail       = hot(`UPDATE files SET error = ?, attempts = attempts + 1, updated_at = ?
		WHERE id = ? RETURNING attempts`)

	qStartDelivery = hot(`INSERT INTO deliveries
		(file_id, idx, partner, dir, name, mode, temp_name, size, sha256, state, started_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING ` + deliveryColumns)
	qDeliveryState = hot(`SELECT state, size, sha256 FROM deliveries WHERE id = ? AND superseded_at IS NULL`)
	qMarkUploaded  = hot(`UPDATE deliveries SET state = ? WHERE id = ? RETURNING ` + deliveryColumns)
	// advanceDelivery's write from one of two states, the only rows it
	// changes (see qMarkStagedIf).
	qAdvanceIf = hot(`UPDATE deliveries SET state = ?
		WHERE id = ? AND superseded_at IS NULL AND state IN (?, ?) RETURNING ` + deliveryColumns)
	qMarkDeliveredIf = hot(`UPDATE deliveries SET state = 'delivered', size = ?, sha256 = ?, delivered_at = ?
		WHERE id = ? AND superseded_at IS NULL AND state <> 'delivered' RETURNING ` + deliveryColumns)
	qRestart       = hot(`UPDATE deliveries SET state = ?, mode = ? WHERE id = ?`)
	qMarkDelivered = hot(`UPDATE deliveries SET state = ?, size = ?, sha256 = ?, delivered_at = ?
		WHERE id = ? RETURNING ` + deliveryColumns)
	qDeliveries = hot(`SELECT ` + deliveryColumns + ` FROM deliveries
		WHERE file_id = ? AND superseded_at IS NULL ORDER BY idx`)
	qDelivery      = hot(`SELECT ` + deliveryColumns + ` FROM deliveries WHERE id = ?`)
	qAllDeliveries = hot(`SELECT ` + deliveryColumns + ` FROM deliveries
		WHERE file_id = ? ORDER BY idx, id`)
)

// The audit chain's (see audit.go; chainNext, in each dialect's SQL, is
// prepared beside these).
var (
	qFileAudited = hot(`SELECT ` + fileAudited + ` FROM files WHERE id = ?`)
	qAppendAudit = hot(`INSERT INTO audit (seq, kind, ref, content, at, hash) VALUES (?, ?, ?, ?, ?, ?)`)
)

// query is a hot statement: an index into Ledger.stmts.
type query int

// queries are the texts of the hot statements, by query.
var queries []string

func hot(text string) query {
	queries = append(queries, text)
	return query(len(queries) - 1)
}

func (l *Ledger) stmt(q query) *sql.Stmt { return l.stmts[q] }

// exec runs q inside tx, on the statement prepared for it.
func (l *Ledger) exec(tx *sql.Tx, q query, args ...any) (sql.Result, error) {
	return tx.Stmt(l.stmts[q]).Exec(args...)
}

func (l *Ledger) queryRowTx(tx *sql.Tx, q query, args ...any) *sql.Row {
	return tx.Stmt(l.stmts[q]).QueryRow(args...)
}

func (l *Ledger) queryRow(q query, args ...any) *sql.Row {
	return l.stmts[q].QueryRow(args...)
}
