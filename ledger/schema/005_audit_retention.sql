-- Version 5 of the ledger schema: the audit chain and retention.
--
-- audit is an append-only, hash-chained record of every change to a
-- delivery, to the subjects of an output, and to the facts of a file the
-- privacy answers read (its identity, sha256, counts and unread mark):
-- each row holds a canonical snapshot (content, a JSON array) of the
-- record after the change, and hash = HMAC-SHA256 over the previous row's
-- hash and this row's seq, kind, ref, content and at (see
-- ledger/audit.go). Rows are written in the same transaction as the
-- change, in seq order with no gap, so the chain order is the commit
-- order. content 'purged' marks a record deleted by a purge (or a file
-- dropped before it was staged). The first row is the 'genesis' record.
--
-- The rows recorded before this version are chained once, in one
-- transaction, by the first Open after this migration, after the genesis
-- record (the hash needs the ledger's key, which SQL does not have); meta
-- 'audit_genesis' records when.
CREATE TABLE audit (
	seq     INTEGER PRIMARY KEY AUTOINCREMENT,
	kind    TEXT    NOT NULL CHECK (kind IN ('genesis', 'file', 'delivery', 'subjects', 'purge')),
	ref     TEXT    NOT NULL,                   -- file id, delivery id, or file_id/idx
	content TEXT    NOT NULL,
	at      INTEGER NOT NULL,
	hash    TEXT    NOT NULL
) STRICT;
CREATE INDEX audit_ref ON audit (kind, ref, seq);

-- audit_checkpoint holds, after a purge, the last row the purge removed
-- from the head of the chain: the chain verifies from its hash. hash is
-- the HMAC of the checkpoint itself, so it cannot be moved unnoticed by
-- anyone without the key.
CREATE TABLE audit_checkpoint (
	id        INTEGER PRIMARY KEY CHECK (id = 1),
	upto_seq  INTEGER NOT NULL,                 -- rows with seq <= upto_seq are gone
	last_hash TEXT    NOT NULL,                 -- the hash of row upto_seq
	counts    TEXT    NOT NULL,                 -- JSON: rows removed, in total
	at        INTEGER NOT NULL,
	hash      TEXT    NOT NULL
) STRICT;

-- kept holds the identity of every purged file (job, partner, dir, name,
-- size, mtime, sha256; no row of it): its source may still stand (after:
-- keep, now or once), and must not be imported again. It has no retention
-- of its own.
CREATE TABLE kept (
	job       TEXT    NOT NULL,
	partner   TEXT    NOT NULL,
	dir       TEXT    NOT NULL,
	name      TEXT    NOT NULL,
	size      INTEGER NOT NULL,
	mtime     INTEGER NOT NULL,
	sha256    TEXT    NOT NULL DEFAULT '',
	purged_at INTEGER NOT NULL,
	PRIMARY KEY (job, partner, dir, name, size, mtime)
) STRICT, WITHOUT ROWID;

-- Finished runs by time, for the purge.
CREATE INDEX runs_finished ON runs (finished_at) WHERE finished_at IS NOT NULL;
