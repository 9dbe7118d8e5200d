-- Version 10 of the ledger schema: every delivery of a file, those a retry
-- superseded included (AllDeliveries, asked once for each file a run
-- delivers), and the deliveries removed with a file (ON DELETE CASCADE),
-- found by the file's id: deliveries_current covers only the rows not
-- superseded, so without this index each of those read the whole table,
-- and a run took longer the more the ledger held.
CREATE INDEX deliveries_file ON deliveries (file_id, idx, id);
