-- Version 7 of the ledger schema: operators' actions on stuck files
-- (exchanged files retry / abandon), and deliveries a retry superseded.
--
-- deliveries.superseded_at is set when an operator's retry gave an
-- output a fresh delivery because the destination it was begun for is no
-- longer the job's (the config was fixed): the old row stays, as the
-- record of a disclosure that may stand at the old destination (a temp
-- file, or a partial under the final name of a direct delivery), and is
-- never resumed. NULL for every current delivery. Only one current
-- delivery per file and output: the UNIQUE (file_id, idx) of version 3
-- becomes a unique index over the rows not superseded. The table is
-- rebuilt as in version 2 and 3, and its AUTOINCREMENT counter carried
-- over.
CREATE TABLE deliveries_v7 (
	id            INTEGER PRIMARY KEY AUTOINCREMENT,
	file_id       INTEGER NOT NULL REFERENCES files (id) ON DELETE CASCADE,
	idx           INTEGER NOT NULL,
	partner       TEXT    NOT NULL,
	dir           TEXT    NOT NULL,
	name          TEXT    NOT NULL,              -- final name
	mode          TEXT    NOT NULL DEFAULT 'temp' CHECK (mode IN ('temp', 'direct')),
	temp_name     TEXT    NOT NULL DEFAULT '',   -- '' for a delivery begun direct
	size          INTEGER NOT NULL DEFAULT 0,    -- expected, then as verified
	sha256        TEXT    NOT NULL DEFAULT '',   -- hex, '' if not known
	state         TEXT    NOT NULL CHECK (state IN ('started', 'creating', 'writing', 'uploaded', 'delivered')),
	started_at    INTEGER NOT NULL,
	delivered_at  INTEGER,                       -- NULL until delivered
	superseded_at INTEGER                        -- NULL unless a retry superseded it
) STRICT;

INSERT INTO deliveries_v7 (id, file_id, idx, partner, dir, name, mode, temp_name, size, sha256,
		state, started_at, delivered_at)
	SELECT id, file_id, idx, partner, dir, name, mode, temp_name, size, sha256,
		state, started_at, delivered_at
	FROM deliveries;

DELETE FROM sqlite_sequence WHERE name = 'deliveries_v7';
UPDATE sqlite_sequence SET name = 'deliveries_v7' WHERE name = 'deliveries';
DROP TABLE deliveries;
ALTER TABLE deliveries_v7 RENAME TO deliveries;
CREATE INDEX deliveries_name ON deliveries (partner, dir, name);
CREATE UNIQUE INDEX deliveries_current ON deliveries (file_id, idx) WHERE superseded_at IS NULL;

-- file_actions: one row per operator action on a file, append-only: who
-- (actor: the OS user, and the --by name if given), why (reason, the
-- operator's text, which must not hold personal data), when, the file's
-- state before, and what was done and reported (detail, a JSON object:
-- the deliveries superseded and what their old destination may hold,
-- the staging removed, whether the source was already cleaned). It has
-- no foreign key: the record of an action outlives a purge of its file.
-- An abandoned file is moved to state 'rejected' (finished, staging
-- removed: never pending, never purged before its retention, its
-- identity kept so that a source still standing is not taken again);
-- its abandon row tells it from a file rejected by its transform.
CREATE TABLE file_actions (
	id      INTEGER PRIMARY KEY AUTOINCREMENT,
	file_id INTEGER NOT NULL,
	job     TEXT    NOT NULL,
	partner TEXT    NOT NULL,                    -- the file's source partner
	name    TEXT    NOT NULL,                    -- the file's source name
	action  TEXT    NOT NULL CHECK (action IN ('retry', 'abandon')),
	actor   TEXT    NOT NULL,
	reason  TEXT    NOT NULL DEFAULT '',
	state   TEXT    NOT NULL,                    -- the file's state before the action
	detail  TEXT    NOT NULL DEFAULT '{}',
	at      INTEGER NOT NULL
) STRICT;
CREATE INDEX file_actions_file ON file_actions (file_id, id);

-- The audit chain covers the actions (kind 'action', ref the action's
-- id). SQLite cannot change a CHECK constraint in place: the table is
-- rebuilt with its rows as they are (their hashes do not depend on the
-- table) and its AUTOINCREMENT counter carried over.
CREATE TABLE audit_v7 (
	seq     INTEGER PRIMARY KEY AUTOINCREMENT,
	kind    TEXT    NOT NULL CHECK (kind IN ('genesis', 'file', 'delivery', 'subjects', 'purge', 'action')),
	ref     TEXT    NOT NULL,
	content TEXT    NOT NULL,
	at      INTEGER NOT NULL,
	hash    TEXT    NOT NULL
) STRICT;
INSERT INTO audit_v7 (seq, kind, ref, content, at, hash)
	SELECT seq, kind, ref, content, at, hash FROM audit;
DELETE FROM sqlite_sequence WHERE name = 'audit_v7';
UPDATE sqlite_sequence SET name = 'audit_v7' WHERE name = 'audit';
DROP TABLE audit;
ALTER TABLE audit_v7 RENAME TO audit;
CREATE INDEX audit_ref ON audit (kind, ref, seq);
