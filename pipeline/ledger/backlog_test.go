package ledger_test

import (
	"context"
	"testing"
	"time"

	"github.com/flabsync/flabsync/internal/store"
	"github.com/flabsync/flabsync/internal/store/storetest"
	"github.com/flabsync/flabsync/pipeline/ledger"
)

// TestBacklogByPartner: per partner, the bookings not settled and since
// when the oldest has waited (its file's arrival); settled bookings and
// partners with nothing waiting do not count.
func TestBacklogByPartner(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		t0 := time.Date(2026, 3, 2, 7, 0, 0, 0, time.UTC)
		now := t0
		l := ledger.New(db).WithClock(func() time.Time { return now })
		admit := func(partner, name string, ids ...string) {
			t.Helper()
			f, _, err := l.StartFile(ctx, ledger.File{Partner: partner, Name: name, SHA256: name})
			if err != nil {
				t.Fatal(err)
			}
			var bs []ledger.Booking
			var rows []ledger.Row
			for i, id := range ids {
				bs = append(bs, ledger.Booking{IntegratorID: id, Partner: partner, FirstRow: i + 2, Rows: []int{i + 2}, Request: request(id)})
				rows = append(rows, ledger.Row{Num: i + 2, Status: ledger.RowAccepted, IntegratorID: id})
			}
			if _, err := l.Admit(ctx, f, bs, rows); err != nil {
				t.Fatal(err)
			}
		}
		admit("big", "big.csv", "big:1", "big:2", "big:3")
		now = t0.Add(10 * time.Minute)
		admit("small", "small.csv", "small:1", "small:2")
		admit("done", "done.csv", "done:1")
		for _, id := range []string{"big:1", "done:1"} {
			if _, err := l.Sending(ctx, id, "test"); err != nil {
				t.Fatal(err)
			}
			if err := l.Settle(ctx, ledger.Result{IntegratorID: id, State: ledger.Submitted, PreBookingID: "pb"}); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := l.Sending(ctx, "small:1", "test"); err != nil { // in flight still waits
			t.Fatal(err)
		}
		got, err := l.Backlog(ctx)
		if err != nil {
			t.Fatal(err)
		}
		want := []ledger.PartnerBacklog{{Partner: "big", Waiting: 2, Oldest: t0}, {Partner: "small", Waiting: 2, Oldest: t0.Add(10 * time.Minute)}}
		if len(got) != len(want) {
			t.Fatalf("backlog %+v, want %+v", got, want)
		}
		for i := range want {
			if got[i].Partner != want[i].Partner || got[i].Waiting != want[i].Waiting || !got[i].Oldest.Equal(want[i].Oldest) {
				t.Errorf("backlog %+v, want %+v", got[i], want[i])
			}
		}
	})
}
