-- Version 3 of the ledger schema: the creating state of direct deliveries.
--
-- A direct delivery is 'creating' from just before it sends the exclusive
-- create of its final name until that create is answered: created (then
-- 'writing'), or refused because the name is taken (back to 'started').
-- Only a delivery resumed in 'creating' may take an empty file under its
-- final name for the one its own lost create made. Rows of version 2
-- keep their states: a direct delivery 'started' then is not taken for
-- one whose create may have been sent.
--
-- SQLite cannot change a CHECK constraint in place: the table is rebuilt
-- as in version 2, and its AUTOINCREMENT counter carried over.
CREATE TABLE deliveries_v3 (
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
	state        TEXT    NOT NULL CHECK (state IN ('started', 'creating', 'writing', 'uploaded', 'delivered')),
	started_at   INTEGER NOT NULL,
	delivered_at INTEGER,                       -- NULL until delivered
	UNIQUE (file_id, idx)
) STRICT;

INSERT INTO deliveries_v3 (id, file_id, idx, partner, dir, name, mode, temp_name, size, sha256,
		state, started_at, delivered_at)
	SELECT id, file_id, idx, partner, dir, name, mode, temp_name, size, sha256,
		state, started_at, delivered_at
	FROM deliveries;

DELETE FROM sqlite_sequence WHERE name = 'deliveries_v3';
UPDATE sqlite_sequence SET name = 'deliveries_v3' WHERE name = 'deliveries';
DROP TABLE deliveries;
ALTER TABLE deliveries_v3 RENAME TO deliveries;

-- Deliveries by final name: whether another delivery went to a name lately.
CREATE INDEX deliveries_name ON deliveries (partner, dir, name);
