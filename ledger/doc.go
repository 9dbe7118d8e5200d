// Package ledger is the durable record of exchanged: every file's progress
// through its steps, every delivery, and who received which data subject.
// It is an embedded SQLite database (pure Go, modernc.org/sqlite) opened
// with full synchronous writes, so that a recorded step survives a crash
// and a restart resumes from it. It keeps metadata only, never contents.
package ledger
