package schedules

import (
	"testing"
	"time"

	"github.com/flabsync/flabsync/internal/config"
	"github.com/flabsync/flabsync/internal/flabs"
	"github.com/flabsync/flabsync/internal/store"
	"github.com/flabsync/flabsync/internal/store/storetest"
	"github.com/flabsync/flabsync/pipeline/ledger"
)

// TestStatusShowsBacklog: `flabsync status` shows each partner's bookings
// waiting to be sent and how long the oldest has waited.
func TestStatusShowsBacklog(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := t.Context()
		arrived := time.Now().Add(-16 * time.Minute)
		led := ledger.New(db).WithClock(func() time.Time { return arrived })
		f, _, err := led.StartFile(ctx, ledger.File{Partner: "citycare", Name: "citycare.csv", SHA256: "x"})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := led.Admit(ctx, f, []ledger.Booking{{IntegratorID: "citycare:1", Partner: "citycare", FirstRow: 2, Rows: []int{2},
			Request: &flabs.BillingRequest{IntegratorID: "citycare:1"}}}, []ledger.Row{{Num: 2, Status: ledger.RowAccepted, IntegratorID: "citycare:1"}}); err != nil {
			t.Fatal(err)
		}
		cfg := config.Default()
		rep, err := GatherStatus(ctx, db, &cfg)
		if err != nil {
			t.Fatal(err)
		}
		if len(rep.Backlog) != 1 {
			t.Fatalf("backlog %+v, want citycare's one booking", rep.Backlog)
		}
		b := rep.Backlog[0]
		if b.Partner != "citycare" || b.Waiting != 1 || b.OldestSeconds < 16*60 || b.OldestSeconds > 17*60 {
			t.Errorf("backlog %+v, want citycare: 1 waiting for about 16 minutes", b)
		}
	})
}
