package ledger_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/flabsync/flabsync/internal/store"
	"github.com/flabsync/flabsync/internal/store/storetest"
	"github.com/flabsync/flabsync/pipeline/ledger"
)

// TestPruneKeepsUnsettled: a prune erases settled bookings only: a
// booking still pending keeps its request (a resend sends it), and is
// erased once settled. Rows lose their text; files are marked once.
func TestPruneKeepsUnsettled(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		l := ledger.New(db)
		requestFor := request // the request helper; request is shadowed below
		fid, _, err := l.StartFile(ctx, ledger.File{Partner: "p", Name: "f.csv", Path: "archive/f.csv", SHA256: "x"})
		if err != nil {
			t.Fatal(err)
		}
		var bs []ledger.Booking
		for _, id := range []string{"p:done", "p:waiting"} {
			req := request(id)
			req.PatientDetails.LastName = "Quixotefield"
			bs = append(bs, ledger.Booking{IntegratorID: id, Partner: "p", FirstRow: 2, Rows: []int{2}, Request: req})
		}
		rows := []ledger.Row{{Num: 2, Status: ledger.RowRejected, Code: "age", Message: `age "Quixotefield"`, Ref: "R1"}}
		if _, err := l.Admit(ctx, fid, bs, rows); err != nil {
			t.Fatal(err)
		}
		l.Sending(ctx, "p:done", "t")
		l.Settle(ctx, ledger.Result{IntegratorID: "p:done", State: ledger.Submitted})
		if _, err := l.FinishFile(ctx, fid, 1); err != nil {
			t.Fatal(err)
		}
		later := time.Now().Add(time.Hour)

		got, err := l.Prune(ctx, later, ledger.PruneOptions{Batch: 1})
		if err != nil || got != (ledger.Pruned{Bookings: 1, Files: 1, SheetRows: 1}) {
			t.Fatalf("prune = %+v, %v; want 1 booking, 1 file, 1 row", got, err)
		}
		request := func(id string) string {
			var s string
			if err := db.GetContext(ctx, &s, db.Rebind(`SELECT request FROM bookings WHERE integrator_id = ?`), id); err != nil {
				t.Fatal(err)
			}
			return s
		}
		if strings.Contains(request("p:done"), "Quixotefield") || !strings.Contains(request("p:waiting"), "Quixotefield") {
			t.Errorf("settled %s, pending %s: want only the settled one erased", request("p:done"), request("p:waiting"))
		}
		jobs, err := l.Unsettled(ctx, "other", "other:1", time.Now().Add(time.Hour), 10)
		if err != nil || len(jobs) != 1 || jobs[0].Request.PatientDetails.LastName != "Quixotefield" {
			t.Errorf("the pending booking's resend: %+v, %v", jobs, err)
		}
		l.Sending(ctx, "p:waiting", "other:1")
		l.Settle(ctx, ledger.Result{IntegratorID: "p:waiting", State: ledger.Failed})
		if got, err := l.Prune(ctx, later, ledger.PruneOptions{}); err != nil || got != (ledger.Pruned{Bookings: 1}) {
			t.Errorf("prune once settled = %+v, %v; want the one booking", got, err)
		}
		if n, err := l.CountPrunable(ctx, later); err != nil || n != (ledger.Pruned{}) {
			t.Errorf("left to prune: %+v, %v; want none", n, err)
		}
		// A later file sends the failed booking again, with new patient
		// data: that request is prunable in its turn.
		fid2, _, _ := l.StartFile(ctx, ledger.File{Partner: "p", Name: "g.csv", SHA256: "y"})
		req := requestFor("p:waiting")
		req.PatientDetails.LastName = "Fennimoreland"
		if _, err := l.Admit(ctx, fid2, []ledger.Booking{{IntegratorID: "p:waiting", Partner: "p", FirstRow: 2, Rows: []int{2}, Request: req}}, nil); err != nil {
			t.Fatal(err)
		}
		l.Sending(ctx, "p:waiting", "t")
		l.Settle(ctx, ledger.Result{IntegratorID: "p:waiting", State: ledger.Submitted})
		if got, err := l.Prune(ctx, time.Now().Add(2*time.Hour), ledger.PruneOptions{}); err != nil || got.Bookings != 1 || strings.Contains(request("p:waiting"), "Fennimoreland") {
			t.Errorf("a pruned booking sent again: prune %+v, %v; request %s", got, err, request("p:waiting"))
		}
		at, err := l.ReceivedAt(ctx, []string{"archive/f.csv", "elsewhere.csv"})
		if err != nil || len(at) != 1 || at["archive/f.csv"].IsZero() {
			t.Errorf("ReceivedAt = %v, %v", at, err)
		}
	})
}

// TestPruneBlanksLastError: Flabs' error text may echo patient fields
// (and versions before flabsync stopped keeping it stored it): a settled
// booking past retention loses its last error, keeping its state and
// HTTP status; a pending one keeps its own until it settles.
func TestPruneBlanksLastError(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		l := ledger.New(db)
		fid, _, err := l.StartFile(ctx, ledger.File{Partner: "p", Name: "f.csv", SHA256: "le"})
		if err != nil {
			t.Fatal(err)
		}
		var bs []ledger.Booking
		for _, id := range []string{"p:refused", "p:retrying"} {
			bs = append(bs, ledger.Booking{IntegratorID: id, Partner: "p", FirstRow: 2, Rows: []int{2}, Request: request(id)})
		}
		if _, err := l.Admit(ctx, fid, bs, nil); err != nil {
			t.Fatal(err)
		}
		const old = `flabs billing create: 400 Bad Request: "first_name Zebedee Quargleworth is invalid"`
		for id, st := range map[string]ledger.BookingState{"p:refused": ledger.Rejected, "p:retrying": ledger.Retry} {
			l.Sending(ctx, id, "t")
			if err := l.Settle(ctx, ledger.Result{IntegratorID: id, State: st, HTTPStatus: 400, Error: old}); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := l.Prune(ctx, time.Now().Add(time.Hour), ledger.PruneOptions{}); err != nil {
			t.Fatal(err)
		}
		st, err := l.States(ctx, []string{"p:refused", "p:retrying"})
		if err != nil {
			t.Fatal(err)
		}
		if got := st["p:refused"]; got.Error != "" || got.Status != ledger.Rejected || got.HTTPStatus != 400 {
			t.Errorf("settled booking after prune: %+v; want its last error blank, state and status kept", got)
		}
		if got := st["p:retrying"]; got.Error != old {
			t.Errorf("unsettled booking after prune: %+v; want it untouched", got)
		}
	})
}
