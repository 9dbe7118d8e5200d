-- Version 9 of the ledger schema, on PostgreSQL: a file rejected whole
-- whose rejection is over on the node that rejected it (its report
-- delivered, its staging removed) but for the clean of its source and its
-- record as rejected (see exchange/cluster.go): a node that takes the file
-- over then finishes it, source gone or not.
ALTER TABLE files ADD COLUMN rejecting INTEGER NOT NULL DEFAULT 0;
