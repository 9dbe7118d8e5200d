-- Version 2 of the ledger schema, on PostgreSQL: delivery modes and the
-- writing state (see schema/002_delivery_modes.sql). PostgreSQL changes
-- the CHECK in place; the table keeps its rows and its identity.
ALTER TABLE deliveries
	ADD COLUMN mode TEXT NOT NULL DEFAULT 'temp' CONSTRAINT deliveries_mode CHECK (mode IN ('temp', 'direct')),
	DROP CONSTRAINT deliveries_state,
	ADD CONSTRAINT deliveries_state CHECK (state IN ('started', 'writing', 'uploaded', 'delivered'));
