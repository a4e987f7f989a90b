package rules

import (
	"fmt"
	"strings"
	"time"

	"github.com/flabsync/flabsync/internal/store"
	"github.com/flabsync/flabsync/pipeline/ledger"
	"github.com/flabsync/flabsync/reconcile"
)

// testsSent counts a booking's tests (not packages) as sent.
const testsSent = `(SELECT COUNT(*) FROM booking_tests t WHERE t.integrator_id = b.integrator_id AND t.kind = 'test')`

// pkgsSent counts a booking's packages: with packages, how many reports
// to expect is unknown (their member tests are not listed).
const pkgsSent = `(SELECT COUNT(*) FROM booking_tests t WHERE t.integrator_id = b.integrator_id AND t.kind = 'package')`

// walkIn selects the events e of bills made inside Flabs (no integrator
// ID: walk-in patients) received since a time; its parameters are true
// and that time.
const walkIn = `e.orphan = ? AND e.integrator_id = '' AND e.bill_id <> '' AND e.received_at >= ?`

// lastAnswer writes a booking's last answer from its status alone, never
// from last_error: Flabs' words are not kept (they may echo the patient),
// and prune blanks last_error, which must not change an exception's facts.
const lastAnswer = `CASE WHEN b.last_http_status > 0 THEN 'HTTP ' || CAST(b.last_http_status AS TEXT) ELSE 'none: timeout or connection trouble' END`

// notSentWithin is how long a booking may stay pending, in flight or
// waiting to retry before it is a not_sent exception.
const notSentWithin = time.Hour

// hours writes a window for people: "6 h", "72 h", "90 min".
func hours(d time.Duration) string {
	if d%time.Hour == 0 {
		return fmt.Sprintf("%d h", int(d.Hours()))
	}
	return fmt.Sprintf("%d min", int(d.Minutes()))
}

// ruleSet is every SQL rule as of at; refused are the refused files no
// later file replaced.
func ruleSet(cfg Config, at time.Time, dialect store.Dialect, refused []int64) []rule {
	t := func(d time.Duration) store.Time { return store.T(at.Add(-d)) }
	rs := append(baseRules(cfg, dialect, at, t), refusedRules(dialect, at, refused)...)
	if cfg.ListWalkInBills {
		rs = append(rs, rule{reconcile.CategoryOrphanEvent, `SELECT 'orphan_event:bill:' || e.bill_id AS id, '' AS integrator_id,
	'' AS partner, CAST(NULL AS INTEGER) AS file_id, 0 AS row_num,
	'events for bill ' || e.bill_id || ' carry no integrator ID: most likely a bill made inside Flabs' AS detail,
	'check the bill does not duplicate a partner booking' AS suggested_action,
	MIN(COALESCE(e.event_time, e.received_at)) AS occurred_at
FROM webhook_events e WHERE ` + walkIn + `
GROUP BY e.bill_id`, []any{true, t(cfg.RejectsFor)}})
	}
	return rs
}

// refusedBatch is how many refused files one file_refused rule takes.
const refusedBatch = 500

// refusedRules select the refused files ids (of those sharing an ID, the
// latest: latestOfItsKey): open until a later file of
// the partner with the same name replaces it (refusals), or a person
// closes it, however long that takes.
func refusedRules(dialect store.Dialect, at time.Time, ids []int64) []rule {
	var rs []rule
	for len(ids) > 0 {
		n := min(len(ids), refusedBatch)
		args := make([]any, n)
		for i, id := range ids[:n] {
			args[i] = id
		}
		ids = ids[n:]
		rs = append(rs, rule{reconcile.CategoryFileRefused, `SELECT ` + fileRefusedID(dialect) + ` AS id, '' AS integrator_id,
	f.partner AS partner, f.id AS file_id, 0 AS row_num, f.reason AS detail,
	'the file is in ' || f.path || ' with a note saying why; ask ' || f.partner || ' for the file corrected, under the same name (a copy mark such as " (1)" or "_v2" is fine): it closes this once read; or close it here' AS suggested_action,
	f.created_at AS occurred_at
FROM files f WHERE f.id IN (?` + strings.Repeat(", ?", n-1) + `) AND ` + latestOfItsKey(dialect), append(args, latestOfItsKeyArgs(at)...)})
	}
	return rs
}

// correctedBy is the condition that row c of file g corrects the
// rejected row r of file f: a later file of the same partner, received
// by the run's time, carries an accepted (or duplicate) row with r's
// booking reference. Its parameters are correctedByArgs.
const correctedBy = `r.ref <> '' AND c.ref = r.ref AND g.partner = f.partner AND c.status IN (?, ?)
	AND g.created_at > f.created_at AND g.created_at <= ?`

// correctedByArgs are correctedBy's parameters as of at.
func correctedByArgs(at time.Time) []any {
	return []any{ledger.RowAccepted, ledger.RowDuplicate, store.T(at)}
}

// baseRules are the rules every run applies.
func baseRules(cfg Config, dialect store.Dialect, at time.Time, t func(time.Duration) store.Time) []rule {
	now := store.T(at)
	return []rule{
		// One exception per row of the same content, however often the
		// file arrives (the ID is built from the file's hash, not its
		// record); gone once a later file of the partner carries an
		// accepted row with the same booking reference (a correction).
		{reconcile.CategoryRejectedRow, `SELECT ` + rejectedRowID(dialect) + ` AS id,
	'' AS integrator_id, f.partner AS partner, MIN(r.file_id) AS file_id, r.row_num AS row_num,
	MIN(r.code || ': ' || r.message) AS detail,
	'ask ' || f.partner || ' to correct row ' || CAST(r.row_num AS TEXT) || ' of ' || MIN(f.name) || ' and send the file again (rows already sent are not sent twice)' AS suggested_action,
	MIN(f.created_at) AS occurred_at
FROM sheet_rows r JOIN files f ON f.id = r.file_id
WHERE r.status = ? AND f.created_at >= ? AND f.created_at <= ?
	AND NOT EXISTS (SELECT 1 FROM sheet_rows c JOIN files g ON g.id = c.file_id WHERE ` + correctedBy + `)
GROUP BY f.partner, f.sha256, r.sheet, r.row_num`, append([]any{ledger.RowRejected, t(cfg.RejectsFor), now}, correctedByArgs(at)...)},

		{reconcile.CategorySubmitFailed, `SELECT 'submit_failed:' || b.integrator_id AS id, b.integrator_id AS integrator_id,
	b.partner AS partner, b.file_id AS file_id, b.first_row AS row_num,
	CASE WHEN b.status = ? THEN 'Flabs refused it' ELSE 'gave up after ' || CAST(b.attempts AS TEXT) || ' attempts' END ||
	' (last answer: ' || ` + lastAnswer + ` || ')' AS detail,
	CASE WHEN b.status = ? THEN 'check the row against Flabs (tests, lead source, barcode, patient fields; ask Flabs about the integrator ID if it looks right), correct it and send the file again'
	     ELSE 'check that Flabs is reachable and the credentials work; sending the file again retries it (never twice)' END AS suggested_action,
	b.created_at AS occurred_at
FROM bookings b WHERE b.status IN (?, ?) AND b.updated_at <= ?`, []any{ledger.Rejected, ledger.Rejected, ledger.Rejected, ledger.Failed, now}},

		{reconcile.CategoryNoBill, `SELECT 'no_bill:' || b.integrator_id AS id, b.integrator_id AS integrator_id, b.partner AS partner,
	b.file_id AS file_id, b.first_row AS row_num,
	CASE WHEN b.pre_booking_id <> '' THEN 'submitted (preBookingID ' || b.pre_booking_id || ')' ELSE 'submitted (confirmed by a bill event)' END ||
	', no bill.created from Flabs within ` + hours(cfg.BillCreatedWithin) + `' AS detail,
	'look the booking up in Flabs by its integrator ID; if it is there, the webhook was lost; if not, send the file again (nothing is booked twice)' AS suggested_action,
	COALESCE(b.submitted_at, b.updated_at) AS occurred_at
FROM bookings b LEFT JOIN booking_state s ON s.integrator_id = b.integrator_id
WHERE b.status = ? AND b.submitted_at < ? AND (s.integrator_id IS NULL OR s.state = ?)`, []any{ledger.Submitted, t(cfg.BillCreatedWithin), reconcile.StateNone}},

		{reconcile.CategoryUnconfirmed, `SELECT 'unconfirmed:' || b.integrator_id AS id, b.integrator_id AS integrator_id,
	b.partner AS partner, b.file_id AS file_id, b.first_row AS row_num,
	'may or may not be booked: an attempt got no clear answer, and Flabs refused the resend (' || ` + lastAnswer + ` || '); no bill.created within ` + hours(cfg.BillCreatedWithin) + `' AS detail,
	'look it up in Flabs by its integrator ID (or barcode): if it is there, close this; if not, send the file again' AS suggested_action,
	b.created_at AS occurred_at
FROM bookings b LEFT JOIN booking_state s ON s.integrator_id = b.integrator_id
WHERE b.status = ? AND b.updated_at < ? AND (s.integrator_id IS NULL OR s.state = ?)`, []any{ledger.Unconfirmed, t(cfg.BillCreatedWithin), reconcile.StateNone}},

		{reconcile.CategoryNotSent, `SELECT 'not_sent:' || b.integrator_id AS id, b.integrator_id AS integrator_id,
	b.partner AS partner, b.file_id AS file_id, b.first_row AS row_num,
	b.status || ' for over ` + hours(notSentWithin) + `: admitted from its file but not yet answered by Flabs' ||
	CASE WHEN b.last_error <> '' THEN ' (last: ' || b.last_error || ')' ELSE '' END AS detail,
	'flabsync serve sends it by itself: check that serve runs and that Flabs accepts the credentials (flabsync status)' AS suggested_action,
	b.created_at AS occurred_at
FROM bookings b WHERE b.status IN (?, ?, ?) AND b.updated_at < ?`, []any{ledger.Pending, ledger.InFlight, ledger.Retry, t(notSentWithin)}},

		{reconcile.CategoryNotCompleted, `SELECT 'not_completed:' || b.integrator_id AS id, b.integrator_id AS integrator_id,
	b.partner AS partner, b.file_id AS file_id, b.first_row AS row_num,
	'bill ' || s.bill_id || ' created, not completed within ` + hours(cfg.BillCompletedWithin) + `: ' || CAST(s.reports_completed AS TEXT) || ' of ' ||
	CASE WHEN ` + pkgsSent + ` > 0 THEN 'at least ' ELSE '' END || CAST(` + testsSent + ` AS TEXT) || ' reports done' AS detail,
	CASE WHEN ` + pkgsSent + ` = 0 AND s.reports_completed >= ` + testsSent + `
	     THEN 'every report is in, yet the bill is not marked completed: ask the lab to complete bill ' || s.bill_id || ' in Flabs'
	     ELSE 'ask the lab about the pending reports of bill ' || s.bill_id END AS suggested_action,
	COALESCE(s.created_at, s.last_event_at, s.updated_at) AS occurred_at
FROM booking_state s JOIN bookings b ON b.integrator_id = s.integrator_id
WHERE s.state = ? AND COALESCE(s.created_at, s.last_event_at, s.updated_at) < ?`, []any{reconcile.StateCreated, t(cfg.BillCompletedWithin)}},

		{reconcile.CategoryBillDeleted, `SELECT 'bill_deleted:' || s.integrator_id AS id, s.integrator_id AS integrator_id,
	COALESCE(b.partner, '') AS partner, b.file_id AS file_id, COALESCE(b.first_row, 0) AS row_num,
	'bill ' || s.bill_id || ' was deleted in Flabs' AS detail,
	'confirm with the lab that the deletion was meant; if not, the booking must be made again' AS suggested_action,
	COALESCE(s.deleted_at, s.updated_at) AS occurred_at
FROM booking_state s LEFT JOIN bookings b ON b.integrator_id = s.integrator_id
WHERE s.state = ? AND s.orphan = ? AND s.deleted_at >= ?`, []any{reconcile.StateDeleted, false, t(cfg.RejectsFor)}},

		{reconcile.CategoryOrphanEvent, `SELECT 'orphan_event:' || s.integrator_id AS id, s.integrator_id AS integrator_id,
	'' AS partner, CAST(NULL AS INTEGER) AS file_id, 0 AS row_num,
	'events for integrator ID ' || s.integrator_id || ' (bill ' || s.bill_id || '), which flabsync never sent' AS detail,
	'a booking made outside flabsync: check it does not duplicate a partner booking' AS suggested_action,
	COALESCE(s.created_at, s.last_event_at, s.updated_at) AS occurred_at
FROM booking_state s WHERE s.orphan = ? AND s.last_event_at >= ?`, []any{true, t(cfg.RejectsFor)}},

		{reconcile.CategoryDuplicateBill, `SELECT 'duplicate_bill:' || s.integrator_id AS id, s.integrator_id AS integrator_id,
	COALESCE(b.partner, '') AS partner, b.file_id AS file_id, COALESCE(b.first_row, 0) AS row_num,
	CAST((SELECT COUNT(*) FROM booking_bills x WHERE x.integrator_id = s.integrator_id) AS TEXT) || ' bills for one booking (the one deciding its state: ' || s.bill_id || ')' AS detail,
	'the patient is billed twice: cancel the extra bill in Flabs' AS suggested_action,
	(SELECT MAX(x.first_seen) FROM booking_bills x WHERE x.integrator_id = s.integrator_id) AS occurred_at
FROM booking_state s LEFT JOIN bookings b ON b.integrator_id = s.integrator_id
WHERE (SELECT COUNT(*) FROM booking_bills x WHERE x.integrator_id = s.integrator_id) > 1`, nil},

		{reconcile.CategoryTestMismatch, `SELECT 'test_mismatch:' || b.integrator_id AS id, b.integrator_id AS integrator_id,
	b.partner AS partner, b.file_id AS file_id, b.first_row AS row_num,
	CAST(` + testsSent + ` AS TEXT) || ' tests sent, ' || CAST(s.reports_completed AS TEXT) || ' reports in Flabs for bill ' || s.bill_id AS detail,
	'compare the bill with the partner''s order: a test may be missing or extra' AS suggested_action,
	COALESCE(s.completed_at, s.updated_at) AS occurred_at
FROM booking_state s JOIN bookings b ON b.integrator_id = s.integrator_id
WHERE s.state = ? AND ` + pkgsSent + ` = 0 AND s.reports_completed <> ` + testsSent, []any{reconcile.StateCompleted}},
	}
}
