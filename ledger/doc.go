// Package ledger is the durable record of exchanged: every file's progress
// through its steps, every delivery, and who received which data subject.
// It is an embedded SQLite database (pure Go, modernc.org/sqlite) opened
// with full synchronous writes, so that a recorded step survives a crash
// and a restart resumes from it. It keeps metadata only, never contents.
// The same Ledger runs on PostgreSQL (OpenPostgres, pgx's database/sql
// driver) for machines that share one ledger: what differs between the
// two is in dialect.go and postgres.go, and every test runs on both.
//
// The schema is the numbered migrations in schema/*.sql, embedded and
// applied in order by Open; PRAGMA user_version counts those applied
// (PostgreSQL's: schema/postgres/*.sql, the same numbers, and table
// schema_version).
// Data subjects, and the cases their rows belong to, are recorded only as
// pseudonyms (Pseudonym, CasePseudonym): an HMAC under a key kept
// beside the database (path+".key"; on PostgreSQL given by the caller from
// a secret reference, never stored), which Open checks against the
// fingerprint in the database so that a lost or swapped key is an error,
// not silent drift.
//
// Every change to a delivery or to an output's subjects also joins an
// HMAC-chained audit record in the same transaction (audit.go, checked by
// VerifyAudit); Purge removes what retention no longer keeps and leaves a
// checkpoint the chain verifies from (purge.go). An operator's action on
// a stuck file (Retry, Abandon: actions.go) is recorded with who and why
// in table file_actions, on the chain too; a retry supersedes a delivery
// begun for a destination the job no longer names, which stays on record
// as a disclosure and is never resumed.
package ledger
