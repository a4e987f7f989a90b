-- +goose Up
-- With flabs.lab_id set, an event naming another lab is stored (as it
-- came) but marked other_lab and never folded into our bookings, nor
-- counted as an orphan or a walk-in bill.
ALTER TABLE webhook_events ADD COLUMN other_lab BOOLEAN NOT NULL DEFAULT FALSE;
-- Flabs' words are no longer kept as a booking's last error (they may
-- echo the patient); what older versions stored goes.
UPDATE bookings SET last_error = '' WHERE last_error LIKE '%flabs billing create:%';

-- +goose Down
ALTER TABLE webhook_events DROP COLUMN other_lab;
