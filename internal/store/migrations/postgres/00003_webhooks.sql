-- +goose Up
-- A repeated delivery of an event already stored is counted on it, not
-- stored again.
ALTER TABLE webhook_events ADD COLUMN deliveries INTEGER NOT NULL DEFAULT 1;
ALTER TABLE webhook_events ADD COLUMN last_received_at TIMESTAMPTZ;
-- The event names no integrator ID flabsync sent (a bill made inside
-- Flabs, or another integration's): kept, and marked.
ALTER TABLE webhook_events ADD COLUMN orphan BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE booking_state ADD COLUMN orphan BOOLEAN NOT NULL DEFAULT FALSE;
-- Each bill's own monotone state and how many tests its testData listed.
ALTER TABLE booking_bills ADD COLUMN state TEXT NOT NULL DEFAULT '';
ALTER TABLE booking_bills ADD COLUMN tests INTEGER NOT NULL DEFAULT 0;

-- +goose Down
ALTER TABLE booking_bills DROP COLUMN tests;
ALTER TABLE booking_bills DROP COLUMN state;
ALTER TABLE booking_state DROP COLUMN orphan;
ALTER TABLE webhook_events DROP COLUMN orphan;
ALTER TABLE webhook_events DROP COLUMN last_received_at;
ALTER TABLE webhook_events DROP COLUMN deliveries;
