-- Version 1 of the ledger schema.
--
-- Every time is an INTEGER of Unix nanoseconds (UTC instant); NULL or 0
-- where not yet known. files.mtime is the source modification time exactly
-- as the endpoint listed it: SFTP lists whole seconds, so an SFTP identity
-- carries whole seconds, a local one full nanoseconds. Nothing here is
-- personal data: file names, partners, sizes, hashes and HMAC pseudonyms.
-- Ids are AUTOINCREMENT: an id is never reused after a delete or a purge,
-- so an id in a log line or a staging path names one row forever.

-- meta holds the ledger's own facts, such as the fingerprint of the
-- pseudonym key that subjects.pseudonym was computed with.
CREATE TABLE meta (
	key   TEXT PRIMARY KEY,
	value TEXT NOT NULL
) STRICT;

-- runs: one row per execution of a job.
CREATE TABLE runs (
	id          INTEGER PRIMARY KEY AUTOINCREMENT,
	job         TEXT    NOT NULL,
	started_at  INTEGER NOT NULL,
	finished_at INTEGER,                        -- NULL while running
	outcome     TEXT    NOT NULL DEFAULT '',    -- '' while running
	files       INTEGER NOT NULL DEFAULT 0,
	error       TEXT    NOT NULL DEFAULT ''
) STRICT;
CREATE INDEX runs_job ON runs (job, started_at);

-- files: one row per source file, identified by what the source listed.
-- The identity is unique, so a file that is kept at its source is never
-- imported twice. A row moves forward only through
-- staging → staged → cleaned → transformed → done, or to rejected.
CREATE TABLE files (
	id         INTEGER PRIMARY KEY AUTOINCREMENT,
	job        TEXT    NOT NULL,
	partner    TEXT    NOT NULL,
	dir        TEXT    NOT NULL,
	name       TEXT    NOT NULL,
	size       INTEGER NOT NULL,                -- as listed at the source
	mtime      INTEGER NOT NULL,                -- as listed at the source
	sha256     TEXT    NOT NULL DEFAULT '',     -- hex, of the staged copy
	state      TEXT    NOT NULL CHECK (state IN
	           ('staging', 'staged', 'cleaned', 'transformed', 'done', 'rejected')),
	rows       INTEGER NOT NULL DEFAULT 0,
	rejected   INTEGER NOT NULL DEFAULT 0,
	error      TEXT    NOT NULL DEFAULT '',     -- last error, never personal data
	attempts   INTEGER NOT NULL DEFAULT 0,      -- consecutive failures
	seen_at    INTEGER NOT NULL,
	updated_at INTEGER NOT NULL,
	UNIQUE (job, partner, dir, name, size, mtime)
) STRICT;
CREATE INDEX files_pending ON files (job, seen_at, id)
	WHERE state NOT IN ('done', 'rejected');
CREATE INDEX files_finished ON files (updated_at)
	WHERE state IN ('done', 'rejected');

-- deliveries: one row per file per destination (idx is the destination's
-- index within the job, -1 the reject report). The row is written, with
-- its temporary name, before the upload starts (started), marked uploaded
-- once the temporary file is complete and its size checked, and delivered
-- once the file stands under its final name.
CREATE TABLE deliveries (
	id           INTEGER PRIMARY KEY AUTOINCREMENT,
	file_id      INTEGER NOT NULL REFERENCES files (id) ON DELETE CASCADE,
	idx          INTEGER NOT NULL,
	partner      TEXT    NOT NULL,
	dir          TEXT    NOT NULL,
	name         TEXT    NOT NULL,              -- final name
	temp_name    TEXT    NOT NULL DEFAULT '',
	size         INTEGER NOT NULL DEFAULT 0,    -- expected, then as verified
	sha256       TEXT    NOT NULL DEFAULT '',   -- hex, '' if not known
	state        TEXT    NOT NULL CHECK (state IN ('started', 'uploaded', 'delivered')),
	started_at   INTEGER NOT NULL,
	delivered_at INTEGER,                       -- NULL until delivered
	UNIQUE (file_id, idx)
) STRICT;

-- subjects: the pseudonymous data subjects that output idx of a file
-- carries. A subject counts as disclosed to a partner once the delivery
-- with the same (file_id, idx) is delivered.
CREATE TABLE subjects (
	pseudonym TEXT    NOT NULL,                 -- hex HMAC-SHA256, see Ledger.Pseudonym
	file_id   INTEGER NOT NULL REFERENCES files (id) ON DELETE CASCADE,
	idx       INTEGER NOT NULL,
	PRIMARY KEY (pseudonym, file_id, idx)
) STRICT, WITHOUT ROWID;
CREATE INDEX subjects_file ON subjects (file_id, idx);
