-- Version 8 of the ledger schema: leases, the claims of the nodes of a
-- cluster (see leases.go). Only a PostgreSQL ledger is shared by several
-- processes, and only it takes leases; the table is here too so that both
-- databases have the same schema at the same version. It stays empty.
CREATE TABLE leases (
	name       TEXT    PRIMARY KEY,
	node       TEXT    NOT NULL,
	token      INTEGER NOT NULL,
	expires_at INTEGER NOT NULL
);

-- The node of a cluster that holds a file's staged copy (staging is local
-- to a node): '' alone, or before it was staged.
ALTER TABLE files ADD COLUMN staged_on TEXT NOT NULL DEFAULT '';
