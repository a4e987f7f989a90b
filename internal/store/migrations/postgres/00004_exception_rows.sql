-- +goose Up
-- The sheet row an exception is about (rejected rows), 0 when none.
ALTER TABLE exceptions ADD COLUMN row_num INTEGER NOT NULL DEFAULT 0;
CREATE INDEX exceptions_last_seen ON exceptions (last_seen);

-- +goose Down
DROP INDEX exceptions_last_seen;
ALTER TABLE exceptions DROP COLUMN row_num;
