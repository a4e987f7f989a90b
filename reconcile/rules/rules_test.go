package rules_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/flabsync/flabsync/internal/flabs"
	"github.com/flabsync/flabsync/internal/sheet"
	"github.com/flabsync/flabsync/internal/store"
	"github.com/flabsync/flabsync/internal/store/storetest"
	"github.com/flabsync/flabsync/mapping"
	"github.com/flabsync/flabsync/pipeline/ledger"
	"github.com/flabsync/flabsync/reconcile"
	"github.com/flabsync/flabsync/reconcile/rules"
)

var cfg = rules.Config{BillCreatedWithin: 6 * time.Hour, BillCompletedWithin: 72 * time.Hour}

// scenario writes, through the ledger, one booking per situation and the
// state webhooks would have left, as of "now" (the real clock: the ledger
// stamps rows with it).
func scenario(t *testing.T, db *store.DB) {
	t.Helper()
	ctx := context.Background()
	l := ledger.New(db)
	fid, _, err := l.StartFile(ctx, ledger.File{Partner: "sunrise", Name: "sunrise_1.csv", SHA256: "s"})
	if err != nil {
		t.Fatal(err)
	}
	req := func(id string) *flabs.BillingRequest {
		return &flabs.BillingRequest{IntegratorID: id, PatientDetails: flabs.PatientDetails{FirstName: "X"}}
	}
	ids := []string{"no-bill", "fresh", "billed-late", "completed-ok", "mismatch", "deleted", "twice", "refused", "failed"}
	var bs []ledger.Booking
	var rows []ledger.Row
	for i, id := range ids {
		id = "sunrise:" + id
		items := []ledger.Item{{Kind: "test", Name: "CBC", Target: "1", How: "catalogue"}, {Kind: "test", Name: "Trop T", How: "none"}}
		bs = append(bs, ledger.Booking{IntegratorID: id, Partner: "sunrise", FirstRow: i + 2, Rows: []int{i + 2}, Request: req(id), Items: items})
		rows = append(rows, ledger.Row{Num: i + 2, Status: ledger.RowAccepted, IntegratorID: id})
	}
	rows = append(rows, ledger.Row{Num: 20, Status: ledger.RowRejected, Code: "missing_name", Message: "patient name is empty"})
	if _, err := l.Admit(ctx, fid, bs, rows); err != nil {
		t.Fatal(err)
	}
	for _, id := range ids {
		id = "sunrise:" + id
		l.Sending(ctx, id, "t")
		st := ledger.Submitted
		switch id {
		case "sunrise:refused":
			st = ledger.Rejected
		case "sunrise:failed":
			st = ledger.Failed
		}
		if err := l.Settle(ctx, ledger.Result{IntegratorID: id, State: st, PreBookingID: "pb", Error: "503"}); err != nil {
			t.Fatal(err)
		}
	}
	now := time.Now()
	state := func(id, st, bill string, created time.Time, reports int, orphan bool) {
		t.Helper()
		q := db.Rebind(`INSERT INTO booking_state (integrator_id, state, bill_id, bills_seen, reports_completed, created_at, deleted_at, last_event_at, updated_at, orphan)
VALUES (?, ?, ?, 1, ?, ?, ?, ?, ?, ?)`)
		var deleted any
		if st == "deleted" {
			deleted = store.T(created)
		}
		if _, err := db.Exec(q, id, st, bill, reports, store.T(created), deleted, store.T(created), store.T(created), orphan); err != nil {
			t.Fatal(err)
		}
		if _, err := db.Exec(db.Rebind(`INSERT INTO booking_bills (integrator_id, bill_id, first_seen) VALUES (?, ?, ?)`), id, bill, store.T(created)); err != nil {
			t.Fatal(err)
		}
	}
	state("sunrise:billed-late", "created", "B1", now.Add(-80*time.Hour), 1, false)
	state("sunrise:completed-ok", "completed", "B2", now.Add(-time.Hour), 2, false)
	state("sunrise:mismatch", "completed", "B3", now.Add(-time.Hour), 1, false)
	state("sunrise:deleted", "deleted", "B4", now.Add(-time.Hour), 0, false)
	state("sunrise:twice", "created", "B5", now.Add(-time.Hour), 0, false)
	db.Exec(db.Rebind(`INSERT INTO booking_bills (integrator_id, bill_id, first_seen) VALUES (?, ?, ?)`), "sunrise:twice", "B6", store.T(now))
	state("walkin:1", "created", "B7", now.Add(-time.Hour), 0, true)
	// A bill made inside Flabs: its events name no integrator ID at all.
	var rawID int64
	if err := db.QueryRowx(db.Rebind(`INSERT INTO webhook_raw (received_at, body, status) VALUES (?, ?, 'stored') RETURNING id`),
		store.T(now), []byte(`{}`)).Scan(&rawID); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(db.Rebind(`INSERT INTO webhook_events (raw_id, dedupe_key, event, integrator_id, bill_id, received_at, orphan)
VALUES (?, 'k1', 'bill.created', '', 'B-staff', ?, ?)`), rawID, store.T(now), true); err != nil {
		t.Fatal(err)
	}
}

func TestEveryRuleAndTheLifeOfAnException(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		scenario(t, db)
		at := time.Now().Add(7 * time.Hour) // past the 6 h bill window for what was just submitted
		cat := []mapping.CatalogueItem{{Kind: mapping.KindTest, ID: "1", Name: "Complete Blood Count (CBC)"}}
		res, err := rules.Run(ctx, db, cfg, mapping.NewIndex(nil, cat), at)
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]reconcile.Exception{}
		if err := rules.Each(ctx, db, at, func(e reconcile.Exception) error { got[e.ID] = e; return nil }); err != nil {
			t.Fatal(err)
		}
		want := map[string]reconcile.Category{ // id → category
			"no_bill:sunrise:no-bill":           reconcile.CategoryNoBill,
			"no_bill:sunrise:fresh":             reconcile.CategoryNoBill,
			"not_completed:sunrise:billed-late": reconcile.CategoryNotCompleted,
			"test_mismatch:sunrise:mismatch":    reconcile.CategoryTestMismatch,
			"bill_deleted:sunrise:deleted":      reconcile.CategoryBillDeleted,
			"duplicate_bill:sunrise:twice":      reconcile.CategoryDuplicateBill,
			"orphan_event:walkin:1":             reconcile.CategoryOrphanEvent,
			"submit_failed:sunrise:refused":     reconcile.CategorySubmitFailed,
			"submit_failed:sunrise:failed":      reconcile.CategorySubmitFailed,
			"unmapped_test:sunrise:test:trop t": reconcile.CategoryUnmappedTest,
		}
		for id, c := range want {
			e, ok := got[id]
			if !ok {
				t.Errorf("no exception %s", id)
				continue
			}
			// The age counts from what happened (the booking sent, the
			// bill created), not from this first run that saw it.
			if e.Category != c || e.Status != reconcile.StatusNew || e.Since.IsZero() || e.Since.After(at) ||
				e.AgeBucket != reconcile.AgeBucket(e.Since, at) || e.Detail == "" || e.SuggestedAction == "" {
				t.Errorf("%s: %+v", id, e)
			}
		}
		if e := got["not_completed:sunrise:billed-late"]; e.AgeBucket != "72h+" {
			t.Errorf("a bill created three days before the run is %s old", e.AgeBucket)
		}
		var rejected int
		for id, e := range got {
			if e.Category == reconcile.CategoryRejectedRow {
				rejected++
				if e.Row != 20 || e.File != "sunrise_1.csv" || e.Partner != "sunrise" {
					t.Errorf("%s: %+v", id, e)
				}
			}
		}
		if rejected != 1 || len(got) != len(want)+1 {
			t.Errorf("%d exceptions (%d rejected rows), want %d + 1: %v", len(got), rejected, len(want), keys(got))
		}
		if res.New != len(got) || res.Counts[reconcile.CategoryNoBill]["sunrise"] != 2 {
			t.Errorf("result %+v", res)
		}
		// A bill made inside Flabs (no integrator ID) is counted, not listed
		// — unless the lab asks for the list.
		if res.WalkInBills != 1 {
			t.Errorf("%d bills made in Flabs counted, want 1", res.WalkInBills)
		}

		for _, absent := range []string{"no_bill:sunrise:completed-ok", "not_completed:sunrise:twice", "test_mismatch:sunrise:completed-ok"} {
			if _, ok := got[absent]; ok {
				t.Errorf("%s is an exception but is fine (or inside its window)", absent)
			}
		}

		// The next night: a bill came for one, the rest are open and older.
		db.Exec(db.Rebind(`INSERT INTO booking_state (integrator_id, state, bill_id, bills_seen, created_at, updated_at) VALUES (?, 'created', 'B9', 1, ?, ?)`),
			"sunrise:no-bill", store.T(at), store.T(at))
		next := at.Add(25 * time.Hour)
		res, err = rules.Run(ctx, db, cfg, mapping.NewIndex(nil, cat), next)
		if err != nil {
			t.Fatal(err)
		}
		got = map[string]reconcile.Exception{}
		rules.Each(ctx, db, next, func(e reconcile.Exception) error { got[e.ID] = e; return nil })
		if e := got["no_bill:sunrise:no-bill"]; e.Status != reconcile.StatusResolved {
			t.Errorf("billed since: %+v, want resolved", e)
		}
		if e := got["no_bill:sunrise:fresh"]; e.Status != reconcile.StatusOpen || e.AgeBucket != "24-48h" || !e.FirstSeen.Equal(at.UTC().Truncate(time.Microsecond)) {
			t.Errorf("still no bill: %+v, want open, 24-48h, first seen %v", e, at)
		}
		if res.Resolved != 1 || res.New != 0 {
			t.Errorf("second run: %+v", res)
		}
		// An alias makes Trop T map: it is no longer an exception.
		ix := mapping.NewIndex([]mapping.Entry{{Kind: mapping.KindTest, LocalName: "Trop T", Target: "1", TargetKey: mapping.KeyID}}, cat)
		third := next.Add(time.Hour)
		rules.Run(ctx, db, cfg, ix, third)
		got = map[string]reconcile.Exception{}
		rules.Each(ctx, db, third, func(e reconcile.Exception) error { got[e.ID] = e; return nil })
		if e := got["unmapped_test:sunrise:test:trop t"]; e.Status != reconcile.StatusResolved {
			t.Errorf("mapped since: %+v", e)
		}
		listing := cfg
		listing.ListWalkInBills = true
		if _, err := rules.Run(ctx, db, listing, ix, third.Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		var walkIn int
		db.Get(&walkIn, `SELECT COUNT(*) FROM exceptions WHERE id = 'orphan_event:bill:B-staff' AND status <> 'resolved'`)
		if walkIn != 1 {
			t.Errorf("with list_walk_in_bills the walk-in bill is not listed")
		}
	})
}

func keys(m map[string]reconcile.Exception) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// openIDs runs the rules as of at and returns the open (new or open)
// exceptions' IDs.
func openIDs(t *testing.T, db *store.DB, at time.Time) map[string]reconcile.Category {
	t.Helper()
	if _, err := rules.Run(context.Background(), db, cfg, mapping.NewIndex(nil, nil), at); err != nil {
		t.Fatal(err)
	}
	out := map[string]reconcile.Category{}
	rules.Each(context.Background(), db, at, func(e reconcile.Exception) error {
		if e.Open() {
			out[e.ID] = e.Category
		}
		return nil
	})
	return out
}

// TestRunAsOfLaterLeavesNothingBehind: `reconcile --at tomorrow` finds
// bookings past their bill window; a plain run afterwards must report
// what is true now (inside the window: nothing), not what the run as of
// tomorrow recorded.
func TestRunAsOfLaterLeavesNothingBehind(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		scenario(t, db)
		now := time.Now()
		tomorrow := openIDs(t, db, now.Add(30*time.Hour))
		if tomorrow["no_bill:sunrise:fresh"] != reconcile.CategoryNoBill {
			t.Fatalf("as of tomorrow, the fresh booking has no bill past its window: %v", tomorrow)
		}
		plain := openIDs(t, db, now)
		for id, c := range plain {
			if c == reconcile.CategoryNoBill {
				t.Errorf("%s open after a plain run, but the booking is inside its bill window", id)
			}
		}
		// Two plain runs a second apart agree: nothing of tomorrow's is left.
		again := openIDs(t, db, now.Add(time.Second))
		if len(again) != len(plain) {
			t.Errorf("open exceptions changed between two plain runs a second apart: %d then %d", len(plain), len(again))
		}
	})
}

// TestUnconfirmedSettledByAWebhookOrReported: a booking left unconfirmed
// becomes submitted when a bill event names it; one with no bill past
// the window is an exception that says to look it up in Flabs.
func TestUnconfirmedSettledByAWebhookOrReported(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		l := ledger.New(db)
		fid, _, err := l.StartFile(ctx, ledger.File{Partner: "p", Name: "p.csv", SHA256: "u"})
		if err != nil {
			t.Fatal(err)
		}
		var bs []ledger.Booking
		for _, id := range []string{"p:billed", "p:silent", "p:stuck"} {
			bs = append(bs, ledger.Booking{IntegratorID: id, Partner: "p", FirstRow: 2, Rows: []int{2},
				Request: &flabs.BillingRequest{IntegratorID: id}})
		}
		if _, err := l.Admit(ctx, fid, bs, nil); err != nil {
			t.Fatal(err)
		}
		for _, id := range []string{"p:billed", "p:silent"} {
			l.Sending(ctx, id, "t")
			if err := l.Settle(ctx, ledger.Result{IntegratorID: id, State: ledger.Unconfirmed, HTTPStatus: 409, MaybeBooked: true,
				Error: "409 integrator_id exists"}); err != nil {
				t.Fatal(err)
			}
		}
		// p:stuck stays pending: admitted, never answered.
		db.Exec(db.Rebind(`INSERT INTO booking_state (integrator_id, state, bill_id, bills_seen, created_at, updated_at) VALUES (?, 'created', 'B1', 1, ?, ?)`),
			"p:billed", store.T(time.Now()), store.T(time.Now()))
		n, err := l.ConfirmBilled(ctx, time.Now())
		if err != nil || n != 1 {
			t.Fatalf("confirmed %d, %v; want the billed one", n, err)
		}
		st, _ := l.States(ctx, []string{"p:billed", "p:silent"})
		if st["p:billed"].Status != ledger.Submitted || st["p:silent"].Status != ledger.Unconfirmed {
			t.Errorf("after a bill event: %+v", st)
		}
		inside := openIDs(t, db, time.Now().Add(time.Minute))
		if len(inside) != 0 {
			t.Errorf("inside the windows nothing is an exception yet: %v", inside)
		}
		past := openIDs(t, db, time.Now().Add(7*time.Hour))
		if past["unconfirmed:p:silent"] != reconcile.CategoryUnconfirmed {
			t.Errorf("past the bill window: %v, want unconfirmed:p:silent", past)
		}
		if past["not_sent:p:stuck"] != reconcile.CategoryNotSent {
			t.Errorf("pending for hours: %v, want not_sent:p:stuck", past)
		}
		if _, ok := past["unconfirmed:p:billed"]; ok {
			t.Errorf("the billed booking is settled, not an exception")
		}
	})
}

// TestRejectedRowsOnceAndCorrected: the same file imported three times
// is one exception per rejected row (and one line in the reject file);
// a later file of the partner with an accepted row of the same booking
// reference corrects it, and the exception resolves.
func TestRejectedRowsOnceAndCorrected(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		l := ledger.New(db)
		file := func(sha string, rows []ledger.Row, bs []ledger.Booking) {
			t.Helper()
			fid, _, err := l.StartFile(ctx, ledger.File{Partner: "p", Name: "p_" + sha + ".csv", SHA256: sha})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := l.Admit(ctx, fid, bs, rows); err != nil {
				t.Fatal(err)
			}
		}
		bad := []ledger.Row{{Num: 2, Status: ledger.RowRejected, Code: "missing_age", Message: "age is empty", Ref: "R1"}}
		for range 3 {
			file("aaaa", bad, nil)
		}
		open := openIDs(t, db, time.Now())
		var rejected []string
		for id, c := range open {
			if c == reconcile.CategoryRejectedRow {
				rejected = append(rejected, id)
			}
		}
		if len(rejected) != 1 {
			t.Errorf("one rejected row arriving three times: %d exceptions %v, want 1", len(rejected), rejected)
		}
		rf, err := rules.Rejects(ctx, db, cfg, time.Now(), func(string) sheet.Options { return sheet.Options{} })
		if err != nil || len(rf) != 1 || len(rf[0].Rows) != 1 {
			t.Errorf("reject files: %+v, %v; want one file with one row", rf, err)
		}
		// The clinic sends the row again, corrected.
		id := "p:R1"
		file("bbbb", []ledger.Row{{Num: 7, Status: ledger.RowAccepted, IntegratorID: id, Ref: "R1"}},
			[]ledger.Booking{{IntegratorID: id, Partner: "p", FirstRow: 7, Rows: []int{7}, Request: &flabs.BillingRequest{IntegratorID: id}}})
		open = openIDs(t, db, time.Now())
		for id, c := range open {
			if c == reconcile.CategoryRejectedRow {
				t.Errorf("%s still open after the corrected row came", id)
			}
		}
		rf, _ = rules.Rejects(ctx, db, cfg, time.Now(), func(string) sheet.Options { return sheet.Options{} })
		if len(rf) != 0 {
			t.Errorf("reject files after the correction: %+v", rf)
		}
		resolved, _ := rules.List(ctx, db, reconcile.StatusResolved, reconcile.CategoryRejectedRow)
		if len(resolved) != 1 || !strings.HasSuffix(resolved[0].Detail, "; corrected by p_bbbb.csv row 7") {
			t.Errorf("the resolved rejected row does not name its correction: %+v", resolved)
		}
		// Past retention, the detail (which may quote the sheet) is cut to
		// its code, once.
		before := time.Now().Add(time.Hour)
		if n, err := rules.PruneDetails(ctx, db, before, true); err != nil || n != 1 {
			t.Errorf("dry run: %d, %v; want 1", n, err)
		}
		if n, err := rules.PruneDetails(ctx, db, before, false); err != nil || n != 1 {
			t.Errorf("prune: %d, %v; want 1", n, err)
		}
		if n, _ := rules.PruneDetails(ctx, db, before, false); n != 0 {
			t.Errorf("a second prune erased %d", n)
		}
		resolved, _ = rules.List(ctx, db, reconcile.StatusResolved, reconcile.CategoryRejectedRow)
		if len(resolved) != 1 || resolved[0].Detail != "missing_age (detail erased: past retention.patient_data_days)" {
			t.Errorf("after prune: %+v", resolved)
		}
	})
}

// TestPeopleCloseAndSnooze: a closed exception stays closed while its
// facts stay the same and comes back as new, with its note, when they
// change; a snoozed one is hidden until its date; neither is counted
// open; an unknown ID changes nothing.
func TestPeopleCloseAndSnooze(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		scenario(t, db)
		at := time.Now().Add(7 * time.Hour)
		open := openIDs(t, db, at)
		for _, id := range []string{"no_bill:sunrise:fresh", "submit_failed:sunrise:refused", "unmapped_test:sunrise:test:trop t"} {
			if open[id] == "" {
				t.Fatalf("%s not open to start with: %v", id, open)
			}
		}
		if err := rules.Close(ctx, db, []string{"no_bill:sunrise:fresh", "nope"}, "asha", "x", at); !errors.Is(err, rules.ErrNoException) {
			t.Fatalf("close with an unknown ID: %v", err)
		}
		if l, _ := rules.List(ctx, db, "closed", ""); len(l) != 0 {
			t.Fatalf("an all-or-nothing close changed %d", len(l))
		}
		if err := rules.Close(ctx, db, []string{"no_bill:sunrise:fresh", "submit_failed:sunrise:refused"}, "asha", "booked by phone", at); err != nil {
			t.Fatal(err)
		}
		if err := rules.Snooze(ctx, db, []string{"unmapped_test:sunrise:test:trop t"}, at.Add(48*time.Hour), "asha", "waiting for Flabs", at); err != nil {
			t.Fatal(err)
		}
		next := at.Add(24 * time.Hour)
		res, err := rules.Run(ctx, db, cfg, mapping.NewIndex(nil, nil), next)
		if err != nil {
			t.Fatal(err)
		}
		open = openIDs(t, db, next.Add(time.Second))
		for _, id := range []string{"no_bill:sunrise:fresh", "submit_failed:sunrise:refused", "unmapped_test:sunrise:test:trop t"} {
			if open[id] != "" {
				t.Errorf("%s is open the next night, but a person closed or snoozed it", id)
			}
		}
		if res.Closed != 2 || res.Snoozed != 1 || res.Counts[reconcile.CategoryNoBill]["sunrise"] != 1 {
			t.Errorf("counts: closed %d snoozed %d no_bill %v; want 2, 1 and only the other no_bill open", res.Closed, res.Snoozed, res.Counts[reconcile.CategoryNoBill])
		}
		// New facts for the refused booking: Flabs refused it again, with
		// another answer. It comes back, as new, with the note.
		ledger.New(db).Settle(ctx, ledger.Result{IntegratorID: "sunrise:refused", State: ledger.Rejected, HTTPStatus: 400, Error: "400"})
		later := next.Add(49 * time.Hour)
		open = openIDs(t, db, later)
		if open["submit_failed:sunrise:refused"] == "" {
			t.Errorf("a closed exception whose facts changed did not come back")
		}
		if open["no_bill:sunrise:fresh"] != "" {
			t.Errorf("a closed exception whose facts did not change came back")
		}
		if open["unmapped_test:sunrise:test:trop t"] == "" {
			t.Errorf("a snoozed exception is still hidden after its date")
		}
		l, _ := rules.List(ctx, db, "open", reconcile.CategorySubmitFailed)
		for _, e := range l {
			if e.ID == "submit_failed:sunrise:refused" && (e.Status != reconcile.StatusNew || e.Note != "booked by phone") {
				t.Errorf("came back as %s with note %q; want new with the earlier note", e.Status, e.Note)
			}
		}
		if err := rules.Reopen(ctx, db, []string{"no_bill:sunrise:fresh"}); err != nil {
			t.Fatal(err)
		}
		if l, _ := rules.List(ctx, db, "closed", ""); len(l) != 0 {
			t.Errorf("still closed after reopen: %+v", l)
		}
	})
}

// TestApplyRefusesStaleOrIncompleteDecisions: a decision taken on facts
// that have changed since (an old workbook), a close without a note or a
// snooze into the past is refused with where it came from, and nothing of
// the batch is applied.
func TestApplyRefusesStaleOrIncompleteDecisions(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		scenario(t, db)
		at := time.Now().Add(7 * time.Hour)
		openIDs(t, db, at)
		detail, first := map[string]string{}, map[string]time.Time{}
		l, _ := rules.List(ctx, db, "open", "")
		for _, e := range l {
			detail[e.ID], first[e.ID] = e.Detail, e.FirstSeen
		}
		good := reconcile.Decision{ID: "no_bill:sunrise:fresh", Action: reconcile.ActionClose, Note: "booked by phone", Where: `sheet "No bill" row 2`,
			Fingerprint: reconcile.Fingerprint("no_bill:sunrise:fresh", detail["no_bill:sunrise:fresh"], first["no_bill:sunrise:fresh"])}
		for name, c := range map[string]struct {
			d    reconcile.Decision
			want string
		}{
			"Stale": {reconcile.Decision{ID: "submit_failed:sunrise:refused", Action: reconcile.ActionClose, Note: "x", Where: `sheet "Submit failed" row 3`,
				Fingerprint: reconcile.Fingerprint("submit_failed:sunrise:refused", "Flabs refused it: something it no longer says", first["submit_failed:sunrise:refused"])}, `sheet "Submit failed" row 3: exception "submit_failed:sunrise:refused" has changed`},
			// The same facts, an earlier occurrence (resolved, then back).
			"EarlierOccurrence": {reconcile.Decision{ID: "submit_failed:sunrise:refused", Action: reconcile.ActionClose, Note: "x", Where: `sheet "Submit failed" row 5`,
				Fingerprint: reconcile.Fingerprint("submit_failed:sunrise:refused", detail["submit_failed:sunrise:refused"], first["submit_failed:sunrise:refused"].Add(-24*time.Hour))}, `row 5: exception "submit_failed:sunrise:refused" has changed`},
			"OtherRow": {reconcile.Decision{ID: "submit_failed:sunrise:refused", Action: reconcile.ActionClose, Note: "x", Where: `sheet "Submit failed" row 4`,
				Fingerprint: reconcile.Fingerprint("no_bill:sunrise:fresh", detail["no_bill:sunrise:fresh"], first["no_bill:sunrise:fresh"])}, `row 4: exception "submit_failed:sunrise:refused" has changed`},
			"NoNote": {reconcile.Decision{ID: "submit_failed:sunrise:refused", Action: reconcile.ActionClose, Where: "row 9"}, "row 9: close \"submit_failed:sunrise:refused\" needs a note"},
			"Past": {reconcile.Decision{ID: "submit_failed:sunrise:refused", Action: reconcile.ActionSnooze, Note: "x", Until: at.Add(-time.Hour)},
				"not in the future"},
		} {
			t.Run(name, func(t *testing.T) {
				err := rules.Apply(ctx, db, []reconcile.Decision{good, c.d}, "asha", at)
				if err == nil || !strings.Contains(err.Error(), c.want) {
					t.Fatalf("err = %v, want %q", err, c.want)
				}
				if l, _ := rules.List(ctx, db, "closed", ""); len(l) != 0 {
					t.Fatalf("a refused batch closed %d", len(l))
				}
			})
		}
		// With the detail as it is now, the close goes through.
		if err := rules.Apply(ctx, db, []reconcile.Decision{good}, "asha", at); err != nil {
			t.Fatal(err)
		}
	})
}

// TestRefusedFileClosesOnlyWhenReplaced: a refused sheet (no header
// row) stays an exception past every window while other good files of
// the partner come (a clinic sending daily does not make its refusals
// vanish); a later file of the same name, copy marks aside, read with
// rows accepted, resolves it and the note says which; a same-name file
// with no row accepted does not.
func TestRefusedFileClosesOnlyWhenReplaced(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		clock := time.Now().Add(-time.Hour)
		l := ledger.New(db).WithClock(func() time.Time { clock = clock.Add(time.Second); return clock })
		file := func(name string, accepted bool) {
			t.Helper()
			fid, _, err := l.StartFile(ctx, ledger.File{Partner: "carecity", Name: name, SHA256: name})
			if err != nil {
				t.Fatal(err)
			}
			if !accepted {
				l.Admit(ctx, fid, nil, []ledger.Row{{Num: 2, Status: ledger.RowRejected, Code: "missing_age", Message: "age is missing", Ref: "X" + name}})
				l.FinishFile(ctx, fid, 1)
				return
			}
			id := "carecity:" + name
			l.Admit(ctx, fid, []ledger.Booking{{IntegratorID: id, Partner: "carecity", FirstRow: 2, Rows: []int{2}, Request: &flabs.BillingRequest{IntegratorID: id}}},
				[]ledger.Row{{Num: 2, Status: ledger.RowAccepted, IntegratorID: id}})
			l.Sending(ctx, id, "t")
			l.Settle(ctx, ledger.Result{IntegratorID: id, State: ledger.Submitted, PreBookingID: "pb"})
			if _, err := l.FinishFile(ctx, fid, 1); err != nil {
				t.Fatal(err)
			}
		}
		fid, _, err := l.StartFile(ctx, ledger.File{Partner: "carecity", Name: "Carecity_0612.csv", SHA256: "noheader"})
		if err != nil {
			t.Fatal(err)
		}
		if err := l.FailFile(ctx, fid, errors.New("no header row found in the first 20 rows")); err != nil {
			t.Fatal(err)
		}
		refused := func(at time.Time) []string {
			t.Helper()
			var ids []string
			for id, c := range openIDs(t, db, at) {
				if c == reconcile.CategoryFileRefused {
					ids = append(ids, id)
				}
			}
			return ids
		}
		later := time.Now().Add(10 * 24 * time.Hour)
		if ids := refused(later); len(ids) != 1 {
			t.Fatalf("refused file after 10 days: %v, want still open", ids)
		}
		// The next days' good files are other files: it stays open.
		file("carecity_0613.csv", true)
		file("carecity_0614.xlsx", true)
		// The same name again, read, but no row accepted: not replaced.
		file("carecity_0612 (1).csv", false)
		if ids := refused(later.Add(time.Second)); len(ids) != 1 {
			t.Fatalf("after other good files of carecity: %v, want the refusal still open", ids)
		}
		// The corrected file, copy marks and case aside: replaced.
		file("CARECITY_0612_v2 (1).xlsx", true)
		if ids := refused(later.Add(2 * time.Second)); len(ids) != 0 {
			t.Fatalf("still open after the corrected file came: %v", ids)
		}
		resolved, _ := rules.List(ctx, db, reconcile.StatusResolved, reconcile.CategoryFileRefused)
		if len(resolved) != 1 || !strings.HasSuffix(resolved[0].Detail, "; replaced by CARECITY_0612_v2 (1).xlsx") {
			t.Errorf("resolved: %+v", resolved)
		}
	})
}

// TestFileKey: the one rule for "the same file sent again".
func TestFileKey(t *testing.T) {
	for _, tt := range []struct {
		a, b string
		same bool
	}{
		{"x.csv", "x (1).csv", true},
		{"x.csv", "x_v2.csv", true},
		{"x.csv", "X-corrected.CSV", true},
		{"x.csv", "x_fixed.xlsx", true},
		{"x.csv", "x_corrected_v3 (2).csv", true},
		{"x.csv", "x copy.csv", true},
		{"x.csv", "x(1).csv", true},
		{"carecity_0612.csv", "Carecity_0612 - Copy.csv", true},
		{"carecity_0612.csv", "incoming/carecity_0612_FINAL.csv", true},
		{"carecity_0612.csv", "carecity_0613.csv", false},
		{"carecity_0612.csv", "carecity_06121.csv", false},
		{"p_broken.csv", "p_fixed.csv", false},
		{"x.csv", "y.csv", false},
		{"x.csv", "x2.csv", false},
		{"report.csv", "report_v.csv", false},
	} {
		if got := rules.FileKey(tt.a) == rules.FileKey(tt.b); got != tt.same {
			t.Errorf("FileKey(%q) = %q, FileKey(%q) = %q: same %v, want %v", tt.a, rules.FileKey(tt.a), tt.b, rules.FileKey(tt.b), got, tt.same)
		}
	}
	if k := rules.FileKey("(1).csv"); k == "" {
		t.Errorf("a name that is all copy mark keys to nothing")
	}
}

// TestTrendAndOldest: every run keeps its open exceptions per category;
// Trend gives the last runs up to a time, oldest first, and Oldest the
// longest-open exceptions first.
func TestTrendAndOldest(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		scenario(t, db)
		at := time.Now().Add(7 * time.Hour).UTC().Truncate(time.Second)
		var results []*rules.Result
		for i := range 3 {
			res, err := rules.Run(ctx, db, cfg, mapping.NewIndex(nil, nil), at.Add(time.Duration(i)*24*time.Hour))
			if err != nil {
				t.Fatal(err)
			}
			results = append(results, res)
		}
		tr, err := rules.Trend(ctx, db, at.Add(30*time.Hour), 7)
		if err != nil {
			t.Fatal(err)
		}
		if len(tr) != 2 || !tr[0].At.Equal(at) || !tr[1].At.Equal(at.Add(24*time.Hour)) {
			t.Fatalf("trend up to the second run: %+v", tr)
		}
		for i, p := range tr {
			for _, c := range reconcile.Categories {
				if p.Open[c] != results[i].Total(c) {
					t.Errorf("run %d %s: trend %d, run said %d", i, c, p.Open[c], results[i].Total(c))
				}
			}
		}
		if tr, _ := rules.Trend(ctx, db, at.Add(72*time.Hour), 2); len(tr) != 2 || !tr[1].At.Equal(at.Add(48*time.Hour)) {
			t.Errorf("the last two runs: %+v", tr)
		}
		old, err := rules.Oldest(ctx, db, at.Add(48*time.Hour), 3)
		if err != nil || len(old) == 0 || len(old) > 3 {
			t.Fatalf("oldest: %v %v", old, err)
		}
		for i := 1; i < len(old); i++ {
			if old[i].FirstSeen.Before(old[i-1].FirstSeen) || !old[i].Open() {
				t.Errorf("oldest not in order: %+v", old)
			}
		}
	})
}
