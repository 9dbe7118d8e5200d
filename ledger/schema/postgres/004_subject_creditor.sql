-- Version 4 of the ledger schema, on PostgreSQL: whose debtor a subject
-- is, and files passed unchanged (see schema/004_subject_creditor.sql).
ALTER TABLE subjects ADD COLUMN creditor TEXT;

CREATE TABLE unread (
	file_id BIGINT PRIMARY KEY REFERENCES files (id) ON DELETE CASCADE
);
