-- Version 4 of the ledger schema: whose debtor a subject is, and files
-- passed unchanged.
--
-- subjects.creditor names the creditor partner the pseudonym is keyed on
-- (see Ledger.Pseudonym): the same for a debtor at import, at handover and
-- back to the creditor. NULL means the creditor is not known, and the
-- pseudonym is keyed on the file's source partner (files.partner), as every
-- pseudonym before this version was. For a file imported from a creditor
-- that is the creditor, and the pseudonym is already the right one; for a
-- file from the agency's own case system it is not, and it cannot be made
-- again without the debtor references, which the ledger never held. Those
-- rows stay NULL: "legacy, creditor unknown". No row is guessed here: the
-- ledger does not know partner roles; the config does, and the commands
-- that read this table (exchanged subject, breach) apply it.
ALTER TABLE subjects ADD COLUMN creditor TEXT;

-- unread: files delivered unchanged (their job has no transform), whose
-- rows were never read: every delivery of one is a file-level disclosure,
-- "subjects not read". A file of version 3 or earlier with deliveries and
-- no subjects may be one too; the commands treat it so.
CREATE TABLE unread (
	file_id INTEGER PRIMARY KEY REFERENCES files (id) ON DELETE CASCADE
) STRICT;
