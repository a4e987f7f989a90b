-- +goose Up
-- People close or snooze exceptions. A closed one stays closed while its
-- detail (its facts) stays what it was when closed; a snoozed one is
-- hidden until snoozed_until. Who, when and why are kept.
ALTER TABLE exceptions ADD COLUMN note TEXT NOT NULL DEFAULT '';
ALTER TABLE exceptions ADD COLUMN closed_by TEXT NOT NULL DEFAULT '';
ALTER TABLE exceptions ADD COLUMN closed_at TIMESTAMPTZ;
ALTER TABLE exceptions ADD COLUMN closed_detail TEXT NOT NULL DEFAULT '';
ALTER TABLE exceptions ADD COLUMN snoozed_until TIMESTAMPTZ;

-- +goose Down
ALTER TABLE exceptions DROP COLUMN snoozed_until;
ALTER TABLE exceptions DROP COLUMN closed_detail;
ALTER TABLE exceptions DROP COLUMN closed_at;
ALTER TABLE exceptions DROP COLUMN closed_by;
ALTER TABLE exceptions DROP COLUMN note;
