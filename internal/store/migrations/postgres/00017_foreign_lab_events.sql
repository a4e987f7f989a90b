-- +goose Up
-- With flabs.lab_id set, an event naming another lab is stored (as it
-- came) but marked other_lab and never folded into our bookings, nor
-- counted as an orphan or a walk-in bill.
ALTER TABLE webhook_events ADD COLUMN other_lab BOOLEAN NOT NULL DEFAULT FALSE;
-- The submit_failed and unconfirmed details now say the booking's last
-- HTTP status, no longer its last_error (reconcile/rules/queries.go,
-- lastAnswer). Details and the closed_detail a person closed on that are
-- in the old words become the new ones, computed the same way, so the
-- next run does not reopen what people closed. Before last_error is
-- blanked below: the old words are matched against it.
UPDATE exceptions SET detail = (SELECT 'Flabs refused it (last answer: ' || CASE WHEN b.last_http_status > 0 THEN 'HTTP ' || CAST(b.last_http_status AS TEXT) ELSE 'none: timeout or connection trouble' END || ')' FROM bookings b WHERE b.integrator_id = exceptions.integrator_id)
WHERE category = 'submit_failed' AND EXISTS (SELECT 1 FROM bookings b WHERE b.integrator_id = exceptions.integrator_id
    AND exceptions.detail = 'Flabs refused it: ' || b.last_error);
UPDATE exceptions SET detail = (SELECT 'gave up after ' || CAST(b.attempts AS TEXT) || ' attempts (last answer: ' || CASE WHEN b.last_http_status > 0 THEN 'HTTP ' || CAST(b.last_http_status AS TEXT) ELSE 'none: timeout or connection trouble' END || ')' FROM bookings b WHERE b.integrator_id = exceptions.integrator_id)
WHERE category = 'submit_failed' AND EXISTS (SELECT 1 FROM bookings b WHERE b.integrator_id = exceptions.integrator_id
    AND exceptions.detail = 'gave up after ' || CAST(b.attempts AS TEXT) || ' attempts: ' || b.last_error);
UPDATE exceptions SET detail = (SELECT 'may or may not be booked: an attempt got no clear answer, and Flabs refused the resend (' || CASE WHEN b.last_http_status > 0 THEN 'HTTP ' || CAST(b.last_http_status AS TEXT) ELSE 'none: timeout or connection trouble' END || SUBSTR(exceptions.detail, LENGTH('may or may not be booked: an attempt got no clear answer, and Flabs refused the resend (' || b.last_error) + 1) FROM bookings b WHERE b.integrator_id = exceptions.integrator_id)
WHERE category = 'unconfirmed' AND EXISTS (SELECT 1 FROM bookings b WHERE b.integrator_id = exceptions.integrator_id
    AND SUBSTR(exceptions.detail, 1, LENGTH('may or may not be booked: an attempt got no clear answer, and Flabs refused the resend (' || b.last_error || '); no bill.created within ')) = 'may or may not be booked: an attempt got no clear answer, and Flabs refused the resend (' || b.last_error || '); no bill.created within ');
UPDATE exceptions SET closed_detail = (SELECT 'Flabs refused it (last answer: ' || CASE WHEN b.last_http_status > 0 THEN 'HTTP ' || CAST(b.last_http_status AS TEXT) ELSE 'none: timeout or connection trouble' END || ')' FROM bookings b WHERE b.integrator_id = exceptions.integrator_id)
WHERE category = 'submit_failed' AND EXISTS (SELECT 1 FROM bookings b WHERE b.integrator_id = exceptions.integrator_id
    AND exceptions.closed_detail = 'Flabs refused it: ' || b.last_error);
UPDATE exceptions SET closed_detail = (SELECT 'gave up after ' || CAST(b.attempts AS TEXT) || ' attempts (last answer: ' || CASE WHEN b.last_http_status > 0 THEN 'HTTP ' || CAST(b.last_http_status AS TEXT) ELSE 'none: timeout or connection trouble' END || ')' FROM bookings b WHERE b.integrator_id = exceptions.integrator_id)
WHERE category = 'submit_failed' AND EXISTS (SELECT 1 FROM bookings b WHERE b.integrator_id = exceptions.integrator_id
    AND exceptions.closed_detail = 'gave up after ' || CAST(b.attempts AS TEXT) || ' attempts: ' || b.last_error);
UPDATE exceptions SET closed_detail = (SELECT 'may or may not be booked: an attempt got no clear answer, and Flabs refused the resend (' || CASE WHEN b.last_http_status > 0 THEN 'HTTP ' || CAST(b.last_http_status AS TEXT) ELSE 'none: timeout or connection trouble' END || SUBSTR(exceptions.closed_detail, LENGTH('may or may not be booked: an attempt got no clear answer, and Flabs refused the resend (' || b.last_error) + 1) FROM bookings b WHERE b.integrator_id = exceptions.integrator_id)
WHERE category = 'unconfirmed' AND EXISTS (SELECT 1 FROM bookings b WHERE b.integrator_id = exceptions.integrator_id
    AND SUBSTR(exceptions.closed_detail, 1, LENGTH('may or may not be booked: an attempt got no clear answer, and Flabs refused the resend (' || b.last_error || '); no bill.created within ')) = 'may or may not be booked: an attempt got no clear answer, and Flabs refused the resend (' || b.last_error || '); no bill.created within ');
-- Flabs' words are no longer kept as a booking's last error (they may
-- echo the patient); what older versions stored goes.
UPDATE bookings SET last_error = '' WHERE last_error LIKE '%flabs billing create:%';

-- +goose Down
ALTER TABLE webhook_events DROP COLUMN other_lab;
