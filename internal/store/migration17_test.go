package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/flabsync/flabsync/internal/store"
	"github.com/flabsync/flabsync/internal/store/storetest"
	"github.com/flabsync/flabsync/mapping"
	"github.com/flabsync/flabsync/reconcile/rules"
)

// TestMigration17KeepsClosedAnswerExceptions: submit_failed and
// unconfirmed details used to quote the booking's last_error; they now
// say its last HTTP status. Exceptions a person closed on the old words
// stay closed after the upgrade and the next rules run (00017 rewrites
// detail and closed_detail the way the rules now compute them), and a
// Flabs billing error blanked by 00017 does not reopen one either.
func TestMigration17KeepsClosedAnswerExceptions(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		if err := db.MigrateTo(ctx, 16); err != nil {
			t.Fatal(err)
		}
		t0 := time.Date(2026, 11, 20, 9, 0, 0, 0, time.UTC)
		booking := func(id, status string, attempts, httpStatus int, lastErr string) {
			t.Helper()
			q := db.Rebind(`INSERT INTO bookings (integrator_id, partner, status, attempts, last_http_status, last_error, created_at, updated_at) VALUES (?, 'p', ?, ?, ?, ?, ?, ?)`)
			if _, err := db.ExecContext(ctx, q, id, status, attempts, httpStatus, lastErr, store.T(t0), store.T(t0)); err != nil {
				t.Fatal(err)
			}
		}
		closed := func(id, category, integratorID, detail string) {
			t.Helper()
			q := db.Rebind(`INSERT INTO exceptions (id, category, integrator_id, partner, detail, status, note, closed_by, closed_at, closed_detail, first_seen, last_seen)
VALUES (?, ?, ?, 'p', ?, 'closed', 'checked in Flabs', 'asha', ?, ?, ?, ?)`)
			if _, err := db.ExecContext(ctx, q, id, category, integratorID, detail, store.T(t0.Add(time.Hour)), detail, store.T(t0), store.T(t0)); err != nil {
				t.Fatal(err)
			}
		}
		booking("p:r1", "rejected", 1, 422, "flabs booking: 422 barcode taken")
		booking("p:f1", "failed", 5, 0, "post: i/o timeout")
		booking("p:u1", "unconfirmed", 2, 409, "flabs booking: 409 (x) duplicate")
		booking("p:u2", "unconfirmed", 2, 400, "flabs billing create: 400 bad name")
		closed("submit_failed:p:r1", "submit_failed", "p:r1", "Flabs refused it: flabs booking: 422 barcode taken")
		closed("submit_failed:p:f1", "submit_failed", "p:f1", "gave up after 5 attempts: post: i/o timeout")
		closed("unconfirmed:p:u1", "unconfirmed", "p:u1", "may or may not be booked: an attempt got no clear answer, and Flabs refused the resend (flabs booking: 409 (x) duplicate); no bill.created within 6 h")
		closed("unconfirmed:p:u2", "unconfirmed", "p:u2", "may or may not be booked: an attempt got no clear answer, and Flabs refused the resend (flabs billing create: 400 bad name); no bill.created within 6 h")

		latest, err := db.LatestSchemaVersion()
		if err != nil {
			t.Fatal(err)
		}
		if err := db.MigrateTo(ctx, latest); err != nil {
			t.Fatal(err)
		}
		cfg := rules.Config{BillCreatedWithin: 6 * time.Hour}
		if _, err := rules.Run(ctx, db, cfg, mapping.NewIndex(nil, nil), t0.Add(48*time.Hour)); err != nil {
			t.Fatal(err)
		}
		var got []struct {
			ID     string `db:"id"`
			Status string `db:"status"`
			Detail string `db:"detail"`
			Closed string `db:"closed_detail"`
		}
		if err := db.SelectContext(ctx, &got, `SELECT id, status, detail, closed_detail FROM exceptions ORDER BY id`); err != nil {
			t.Fatal(err)
		}
		want := map[string]string{
			"submit_failed:p:r1": "Flabs refused it (last answer: HTTP 422)",
			"submit_failed:p:f1": "gave up after 5 attempts (last answer: none: timeout or connection trouble)",
			"unconfirmed:p:u1":   "may or may not be booked: an attempt got no clear answer, and Flabs refused the resend (HTTP 409); no bill.created within 6 h",
			"unconfirmed:p:u2":   "may or may not be booked: an attempt got no clear answer, and Flabs refused the resend (HTTP 400); no bill.created within 6 h",
		}
		if len(got) != len(want) {
			t.Fatalf("got %d exceptions, want %d: %+v", len(got), len(want), got)
		}
		for _, g := range got {
			if g.Status != "closed" || g.Detail != want[g.ID] || g.Closed != want[g.ID] {
				t.Errorf("%s: %s, detail %q, closed on %q; want closed on %q", g.ID, g.Status, g.Detail, g.Closed, want[g.ID])
			}
		}
	})
}
