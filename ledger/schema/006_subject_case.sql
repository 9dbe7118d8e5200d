-- Version 6 of the ledger schema: the case a subject row belongs to.
--
-- subjects.case_pseudonym is the keyed pseudonym of the row's case
-- reference (the agency's case number, canonical field case_ref; see
-- Ledger.CasePseudonym): hex HMAC-SHA256 under the ledger key with its own
-- label, so that it never equals a debtor's pseudonym. '' when the row had
-- no case reference, as every row before this version. It is part of the
-- key: one debtor with two cases in one output is two rows, so that each
-- case finds the output. The case reference itself is never stored.
--
-- The table is rebuilt (a WITHOUT ROWID primary key cannot change in
-- place); its rows keep their pseudonym, output and creditor.
CREATE TABLE subjects_v6 (
	pseudonym      TEXT    NOT NULL,            -- hex HMAC-SHA256, see Ledger.Pseudonym
	file_id        INTEGER NOT NULL REFERENCES files (id) ON DELETE CASCADE,
	idx            INTEGER NOT NULL,
	creditor       TEXT,                        -- see version 4
	case_pseudonym TEXT    NOT NULL DEFAULT '', -- hex HMAC-SHA256, see Ledger.CasePseudonym; '' = none
	PRIMARY KEY (pseudonym, file_id, idx, case_pseudonym)
) STRICT, WITHOUT ROWID;

INSERT INTO subjects_v6 (pseudonym, file_id, idx, creditor, case_pseudonym)
	SELECT pseudonym, file_id, idx, creditor, '' FROM subjects;

DROP TABLE subjects;
ALTER TABLE subjects_v6 RENAME TO subjects;
CREATE INDEX subjects_file ON subjects (file_id, idx);
CREATE INDEX subjects_case ON subjects (case_pseudonym) WHERE case_pseudonym != '';
