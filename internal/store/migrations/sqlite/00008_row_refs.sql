-- +goose Up
-- A row's booking reference as the sheet gave it: a rejected row is
-- corrected by a later file's accepted row with the same reference.
ALTER TABLE sheet_rows ADD COLUMN ref TEXT NOT NULL DEFAULT '';
CREATE INDEX sheet_rows_ref ON sheet_rows (ref) WHERE ref <> '';

-- +goose Down
DROP INDEX sheet_rows_ref;
ALTER TABLE sheet_rows DROP COLUMN ref;
