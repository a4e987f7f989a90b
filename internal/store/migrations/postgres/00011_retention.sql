-- +goose Up
-- Patient data has a lifetime (retention.patient_data_days): past it a
-- booking's request keeps only its IDs, a file's rows lose the text that
-- may quote cells, and a webhook body is emptied. pruned_at marks what was
-- erased, so the next prune starts where the last one stopped; the
-- partial indexes hold only what is still to prune.
ALTER TABLE bookings ADD COLUMN pruned_at TIMESTAMPTZ;
ALTER TABLE files ADD COLUMN pruned_at TIMESTAMPTZ;
ALTER TABLE webhook_raw ADD COLUMN pruned_at TIMESTAMPTZ;
CREATE INDEX bookings_unpruned ON bookings (updated_at) WHERE pruned_at IS NULL;
CREATE INDEX files_unpruned ON files (created_at) WHERE pruned_at IS NULL;
CREATE INDEX webhook_raw_unpruned ON webhook_raw (received_at) WHERE pruned_at IS NULL;

-- +goose Down
DROP INDEX webhook_raw_unpruned;
DROP INDEX files_unpruned;
DROP INDEX bookings_unpruned;
ALTER TABLE webhook_raw DROP COLUMN pruned_at;
ALTER TABLE files DROP COLUMN pruned_at;
ALTER TABLE bookings DROP COLUMN pruned_at;
