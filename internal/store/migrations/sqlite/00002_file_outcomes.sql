-- +goose Up
-- A file's final accounting: rows in = submitted + rejected + duplicate +
-- failed + held + skipped. rows_valid and rows_rejected stay as read;
-- rows_rejected_flabs counts rows Flabs refused.
ALTER TABLE files ADD COLUMN rows_submitted INTEGER NOT NULL DEFAULT 0;
ALTER TABLE files ADD COLUMN rows_rejected_flabs INTEGER NOT NULL DEFAULT 0;
ALTER TABLE files ADD COLUMN rows_failed INTEGER NOT NULL DEFAULT 0;
ALTER TABLE files ADD COLUMN rows_held INTEGER NOT NULL DEFAULT 0;

-- +goose Down
ALTER TABLE files DROP COLUMN rows_held;
ALTER TABLE files DROP COLUMN rows_failed;
ALTER TABLE files DROP COLUMN rows_rejected_flabs;
ALTER TABLE files DROP COLUMN rows_submitted;
