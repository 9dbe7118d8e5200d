-- Version 6 of the ledger schema, on PostgreSQL: the case a subject row
-- belongs to (see schema/006_subject_case.sql). The primary key changes
-- in place.
ALTER TABLE subjects
	ADD COLUMN case_pseudonym TEXT NOT NULL DEFAULT '',
	DROP CONSTRAINT subjects_key,
	ADD CONSTRAINT subjects_key PRIMARY KEY (pseudonym, file_id, idx, case_pseudonym);
CREATE INDEX subjects_case ON subjects (case_pseudonym) WHERE case_pseudonym != '';
