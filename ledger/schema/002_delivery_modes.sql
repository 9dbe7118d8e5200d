-- Version 2 of the ledger schema: delivery modes and the writing state.
--
-- deliveries.mode is how a delivery writes its file: 'temp' (under
-- temp_name, then renamed to name) or 'direct' (under name itself, for
-- write-only drop folders). Every delivery before this version was 'temp'.
-- A direct delivery is 'writing' from the moment its final file has been
-- created by us until it is complete ('uploaded'): only then may a resume
-- remove what stands under the final name, since only then is it ours.
--
-- A delivery row is written before any byte leaves for its partner, so a
-- delivery that is not yet 'delivered' is a disclosure sent but not yet
-- confirmed, and a 'delivered' one a confirmed disclosure (see
-- Ledger.Disclosures); rows of version 1 keep their meaning.
--
-- SQLite cannot change a CHECK constraint in place: the table is rebuilt,
-- and its AUTOINCREMENT counter carried over, so that no id is reused.
CREATE TABLE deliveries_v2 (
	id           INTEGER PRIMARY KEY AUTOINCREMENT,
	file_id      INTEGER NOT NULL REFERENCES files (id) ON DELETE CASCADE,
	idx          INTEGER NOT NULL,
	partner      TEXT    NOT NULL,
	dir          TEXT    NOT NULL,
	name         TEXT    NOT NULL,              -- final name
	mode         TEXT    NOT NULL DEFAULT 'temp' CHECK (mode IN ('temp', 'direct')),
	temp_name    TEXT    NOT NULL DEFAULT '',   -- '' for a delivery begun direct
	size         INTEGER NOT NULL DEFAULT 0,    -- expected, then as verified
	sha256       TEXT    NOT NULL DEFAULT '',   -- hex, '' if not known
	state        TEXT    NOT NULL CHECK (state IN ('started', 'writing', 'uploaded', 'delivered')),
	started_at   INTEGER NOT NULL,
	delivered_at INTEGER,                       -- NULL until delivered
	UNIQUE (file_id, idx)
) STRICT;

INSERT INTO deliveries_v2 (id, file_id, idx, partner, dir, name, mode, temp_name, size, sha256,
		state, started_at, delivered_at)
	SELECT id, file_id, idx, partner, dir, name, 'temp', temp_name, size, sha256,
		state, started_at, delivered_at
	FROM deliveries;

-- Carry the counter: a purged delivery's id stays unused.
DELETE FROM sqlite_sequence WHERE name = 'deliveries_v2';
UPDATE sqlite_sequence SET name = 'deliveries_v2' WHERE name = 'deliveries';
DROP TABLE deliveries;
ALTER TABLE deliveries_v2 RENAME TO deliveries;
