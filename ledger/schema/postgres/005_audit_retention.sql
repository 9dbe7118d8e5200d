-- Version 5 of the ledger schema, on PostgreSQL: the audit chain and
-- retention (see schema/005_audit_retention.sql).
CREATE TABLE audit (
	seq     BIGINT  PRIMARY KEY,
	kind    TEXT    NOT NULL CONSTRAINT audit_kind CHECK (kind IN ('genesis', 'file', 'delivery', 'subjects', 'purge')),
	ref     TEXT    NOT NULL,
	content TEXT    NOT NULL,
	at      BIGINT  NOT NULL,
	hash    TEXT    NOT NULL
);
CREATE INDEX audit_ref ON audit (kind, ref, seq);

-- audit_sequence is SQLite's sqlite_sequence row of table audit: the
-- highest seq ever given, which removing rows from the tail does not
-- lower; the ledger takes the next seq past it (ledger/audit.go nextSeq).
-- A trigger keeps it, as SQLite does by itself for AUTOINCREMENT.
CREATE TABLE audit_sequence (
	name TEXT   PRIMARY KEY,
	seq  BIGINT NOT NULL
);
CREATE FUNCTION audit_sequence_keep() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	INSERT INTO audit_sequence (name, seq) VALUES ('audit', NEW.seq)
		ON CONFLICT (name) DO UPDATE SET seq = greatest(audit_sequence.seq, excluded.seq);
	RETURN NULL;
END
$$;
CREATE TRIGGER audit_sequence AFTER INSERT ON audit
	FOR EACH ROW EXECUTE FUNCTION audit_sequence_keep();

CREATE TABLE audit_checkpoint (
	id        INTEGER PRIMARY KEY CHECK (id = 1),
	upto_seq  BIGINT  NOT NULL,
	last_hash TEXT    NOT NULL,
	counts    TEXT    NOT NULL,
	at        BIGINT  NOT NULL,
	hash      TEXT    NOT NULL
);

CREATE TABLE kept (
	job       TEXT    NOT NULL,
	partner   TEXT    NOT NULL,
	dir       TEXT    NOT NULL,
	name      TEXT    NOT NULL,
	size      BIGINT  NOT NULL,
	mtime     BIGINT  NOT NULL,
	sha256    TEXT    NOT NULL DEFAULT '',
	purged_at BIGINT  NOT NULL,
	PRIMARY KEY (job, partner, dir, name, size, mtime)
);

CREATE INDEX runs_finished ON runs (finished_at) WHERE finished_at IS NOT NULL;
