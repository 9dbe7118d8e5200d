-- Version 3 of the ledger schema, on PostgreSQL: the creating state of
-- direct deliveries (see schema/003_delivery_creating.sql).
ALTER TABLE deliveries
	DROP CONSTRAINT deliveries_state,
	ADD CONSTRAINT deliveries_state CHECK (state IN ('started', 'creating', 'writing', 'uploaded', 'delivered'));

-- Deliveries by final name: whether another delivery went to a name lately.
CREATE INDEX deliveries_name ON deliveries (partner, dir, name);
