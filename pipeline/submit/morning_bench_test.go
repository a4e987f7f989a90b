package submit_test

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/flabsync/flabsync/internal/flabs"
	"github.com/flabsync/flabsync/internal/flabs/flabstest"
	"github.com/flabsync/flabsync/internal/store"
	"github.com/flabsync/flabsync/internal/store/storetest"
	"github.com/flabsync/flabsync/pipeline/ledger"
	"github.com/flabsync/flabsync/pipeline/submit"
)

// The lab's morning (issue 22): 40 clinics' files at once — one hospital
// chain's 20,000-row sheet and 39 clinics' 20 rows — against the
// simulator enforcing a fixed limit (429 + Retry-After), our limit set to
// the same. The limit is high (200/s) so that a run takes under two
// minutes; at a real 10/s every time scales by 20.
const (
	morningLimit   = 200.0
	morningBig     = 20000
	morningSmall   = 20
	morningClinics = 40
	// fileSlots is how many files a process works on at once (issue 22
	// item 1's inbox.concurrency default).
	fileSlots = 4
	// morningWorkers is flabs.concurrency: enough requests in flight for
	// 200/s when each booking also waits on two ledger writes.
	morningWorkers = 32
)

// clinicFile is one clinic's sheet.
type clinicFile struct {
	partner string
	rows    int
}

// morningFiles are the files in the order they arrive: the big sheet
// first, the clinics' after it.
func morningFiles() []clinicFile {
	files := []clinicFile{{"chain", morningBig}}
	for i := 1; i < morningClinics; i++ {
		files = append(files, clinicFile{fmt.Sprintf("clinic%02d", i), morningSmall})
	}
	return files
}

// morningProcess is one flabsync process: its ledger on db, its limiter
// (shared with the others on PostgreSQL), its submitter, fileSlots files
// at a time taken from a queue all processes share (as claims by row
// lock do).
func morningProcess(b *testing.B, db *store.DB, cl *flabs.Client, name string) (*submit.Submitter, *submit.Limiter, func()) {
	led := ledger.New(db)
	lim := submit.LimiterFor(db, flabstest.DefaultClientID, morningLimit, int(morningLimit/10))
	sub := submit.New(cl, led, lim, submit.Options{Concurrency: morningWorkers, Holder: name + ":1"})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { sub.Run(ctx); close(done) }()
	return sub, lim, func() { cancel(); <-done }
}

// sendFile is one file's journey as far as the limit sees it: recorded,
// its bookings admitted, sent, the file finished.
func sendFile(b *testing.B, db *store.DB, sub *submit.Submitter, f clinicFile) {
	ctx := context.Background()
	led := ledger.New(db)
	id, _, err := led.StartFile(ctx, ledger.File{Partner: f.partner, Name: f.partner + ".csv", SHA256: f.partner})
	if err != nil {
		b.Error(err)
		return
	}
	bs := make([]ledger.Booking, f.rows)
	rows := make([]ledger.Row, f.rows)
	for i := range bs {
		iid := fmt.Sprintf("%s:%05d", f.partner, i)
		bs[i] = ledger.Booking{IntegratorID: iid, Partner: f.partner, FirstRow: i + 2, Rows: []int{i + 2}, Request: request(iid)}
		rows[i] = ledger.Row{Num: i + 2, Status: ledger.RowAccepted, IntegratorID: iid}
	}
	ds, err := led.Admit(ctx, id, bs, rows)
	if err != nil {
		b.Error(err)
		return
	}
	jobs := make([]ledger.Job, 0, len(ds))
	for _, d := range ds {
		if d.Send != nil {
			jobs = append(jobs, *d.Send)
		}
	}
	for _, r := range sub.Submit(ctx, jobs, nil) {
		if r.State != ledger.Submitted {
			b.Errorf("%s: %s %s", r.IntegratorID, r.State, r.Error)
			return
		}
	}
	if _, err := led.FinishFile(ctx, id, f.rows); err != nil {
		b.Error(err)
	}
}

func benchMorning(b *testing.B, slots int, open func(b *testing.B) []*store.DB) {
	for range b.N {
		b.StopTimer()
		sim := flabstest.NewTestServer(b, flabstest.Options{RateLimit: morningLimit, Latency: 20 * time.Millisecond,
			Webhooks: flabstest.WebhookOptions{Manual: true}})
		cl, err := flabs.NewClient(flabs.Config{BaseURL: sim.URL(), ClientID: flabstest.DefaultClientID,
			ClientSecret: flabstest.DefaultClientSecret, Timeout: 10 * time.Second})
		if err != nil {
			b.Fatal(err)
		}
		dbs := open(b)
		type proc struct {
			db  *store.DB
			sub *submit.Submitter
			lim *submit.Limiter
		}
		var procs []proc
		for i, db := range dbs {
			sub, lim, stop := morningProcess(b, db, cl, fmt.Sprintf("p%d", i+1))
			defer stop()
			procs = append(procs, proc{db, sub, lim})
		}
		queue := make(chan clinicFile, morningClinics)
		for _, f := range morningFiles() {
			queue <- f
		}
		close(queue)
		var mu sync.Mutex
		doneAt := map[string]time.Duration{}
		files := map[int]int{}
		b.StartTimer()
		start := time.Now()
		var wg sync.WaitGroup
		for i, p := range procs {
			for range slots {
				wg.Go(func() {
					for f := range queue {
						sendFile(b, p.db, p.sub, f)
						mu.Lock()
						doneAt[f.partner] = time.Since(start)
						files[i]++
						mu.Unlock()
					}
				})
			}
		}
		wg.Wait()
		took := time.Since(start)
		b.StopTimer()
		var small []time.Duration
		for p, d := range doneAt {
			if p != "chain" {
				small = append(small, d)
			}
		}
		sort.Slice(small, func(i, j int) bool { return small[i] < small[j] })
		total := morningBig + (morningClinics-1)*morningSmall
		if n := len(sim.Bookings()); n != total || len(sim.DoubleBooked()) > 0 {
			b.Fatalf("Flabs holds %d bookings (%d double), want %d once each", n, len(sim.DoubleBooked()), total)
		}
		var trips int64
		for _, p := range procs {
			trips += p.lim.Trips()
		}
		rate := float64(total) / took.Seconds()
		b.ReportMetric(took.Seconds(), "s-all")
		b.ReportMetric(doneAt["chain"].Seconds(), "s-big")
		b.ReportMetric(small[len(small)-1].Seconds(), "s-small-max")
		b.ReportMetric(small[len(small)/2].Seconds(), "s-small-median")
		b.ReportMetric(rate/morningLimit, "share-of-limit")
		b.ReportMetric(float64(sim.Stats().RateLimited.Load()), "429s")
		b.ReportMetric(float64(trips)/took.Seconds(), "limit-trips/s")
		b.Logf("%d processes; files done per process %v; %d bookings in %s", len(procs), files, total, took.Round(time.Millisecond))
	}
}

// BenchmarkLabsMorning is issue 22's "lab's morning": one process on
// SQLite (four files side by side, and one at a time as serve took them
// before issue 22), and one and two processes on one PostgreSQL (set
// FLABSYNC_TEST_POSTGRES) sharing the limit. Run with -benchtime 1x; each
// case takes about two minutes.
func BenchmarkLabsMorning(b *testing.B) {
	sqlite := func(b *testing.B) []*store.DB { return []*store.DB{storetest.OpenSQLite(b)} }
	// Today's serve: one file at a time, the big one first.
	b.Run("1-sqlite-one-file-at-a-time", func(b *testing.B) { benchMorning(b, 1, sqlite) })
	b.Run("1-sqlite", func(b *testing.B) { benchMorning(b, fileSlots, sqlite) })
	for _, n := range []int{1, 2} {
		b.Run(fmt.Sprintf("%d-postgres", n), func(b *testing.B) {
			benchMorning(b, fileSlots, func(b *testing.B) []*store.DB {
				dsn := storetest.PostgresSchemaURL(b)
				var dbs []*store.DB
				for range n {
					db, err := store.Open(context.Background(), dsn)
					if err != nil {
						b.Fatal(err)
					}
					b.Cleanup(func() { db.Close() })
					dbs = append(dbs, db)
				}
				return dbs
			})
		})
	}
}
