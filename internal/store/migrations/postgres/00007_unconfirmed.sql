-- +goose Up
-- An attempt whose outcome is unknown (a timeout, a dropped connection, a
-- 5xx, an unreadable 2xx, a crash in flight) may have booked: a later
-- refusal of a resend then proves nothing, and the booking is
-- 'unconfirmed' until a webhook or a person settles it.
ALTER TABLE bookings ADD COLUMN maybe_booked BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE files ADD COLUMN rows_unconfirmed INTEGER NOT NULL DEFAULT 0;

-- +goose Down
ALTER TABLE files DROP COLUMN rows_unconfirmed;
ALTER TABLE bookings DROP COLUMN maybe_booked;
