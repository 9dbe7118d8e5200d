-- Version 8 of the ledger schema, on PostgreSQL: leases, the claims of the
-- nodes of a cluster (see leases.go). A lease is held by one node until
-- expires_at, in the database's clock; each time it is taken it gets a new
-- token from lease_tokens, the fence every write made under it carries.
CREATE SEQUENCE lease_tokens;
CREATE TABLE leases (
	name       TEXT        PRIMARY KEY,
	node       TEXT        NOT NULL,
	token      BIGINT      NOT NULL,
	expires_at TIMESTAMPTZ NOT NULL
);

-- The node of a cluster that holds a file's staged copy (staging is local
-- to a node): '' alone, or before it was staged.
ALTER TABLE files ADD COLUMN staged_on TEXT NOT NULL DEFAULT '';
