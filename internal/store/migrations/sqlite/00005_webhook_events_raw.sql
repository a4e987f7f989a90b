-- +goose Up
-- A repeated delivery's raw body is dropped in the transaction that finds
-- the repeat; the foreign key check on that delete looks events up by
-- raw_id, which without this index is a scan of every event stored.
CREATE INDEX webhook_events_raw ON webhook_events (raw_id);

-- +goose Down
DROP INDEX webhook_events_raw;
