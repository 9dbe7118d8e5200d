-- Version 4 of the ledger schema is reserved for the pseudonym work of
-- issue 11 (branch i11-subject), which merges its own 004 in place of
-- this placeholder. It changes nothing.
SELECT 1;
