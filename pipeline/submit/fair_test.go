package submit_test

import (
	"context"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/flabsync/flabsync/internal/flabs"
	"github.com/flabsync/flabsync/internal/flabs/flabstest"
	"github.com/flabsync/flabsync/pipeline/ledger"
	"github.com/flabsync/flabsync/pipeline/submit"
)

// TestSmallClinicBehindBacklog is issue 22's goal: at 5 bookings/s, a
// clinic's 5 rows arriving behind another's 20,000 are booked within 10
// s, not after the backlog; and a clinic's second file waits for its
// first (files of one partner in arrival order). Through the submitter
// and the simulator, on the bubble's clock.
func TestSmallClinicBehindBacklog(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		sim := flabstest.NewPipeServer(t, flabstest.Options{RateLimit: 5, Latency: 50 * time.Millisecond, Webhooks: flabstest.WebhookOptions{Manual: true}})
		cl, err := flabs.NewClient(flabs.Config{BaseURL: sim.URL(), ClientID: flabstest.DefaultClientID,
			ClientSecret: flabstest.DefaultClientSecret, HTTPClient: sim.Client(), Timeout: 5 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		s := submit.New(cl, &memRecorder{}, submit.NewLimiter(5, 1), submit.Options{Concurrency: 4})
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { s.Run(ctx); close(done) }()
		defer func() { cancel(); <-done }()

		var wg sync.WaitGroup
		wg.Go(func() { s.Submit(ctx, jobs("big", 20000), nil) })
		time.Sleep(time.Second)
		// A second file of the big clinic comes in, then the small
		// clinic's file.
		second := jobs("big-second", 3)
		for i := range second {
			second[i].Partner = "big"
		}
		wg.Go(func() { s.Submit(ctx, second, nil) })
		time.Sleep(10 * time.Millisecond)
		start := time.Now()
		res := s.Submit(ctx, jobs("small", 5), nil)
		took := time.Since(start)
		for _, r := range res {
			if r.State != ledger.Submitted {
				t.Fatalf("%s ended %s: %s", r.IntegratorID, r.State, r.Error)
			}
		}
		t.Logf("the small clinic's 5 bookings took %s behind a 20,000-row backlog at 5/s", took)
		if took > 10*time.Second {
			t.Errorf("the small clinic's 5 bookings took %s; want within 10 s", took)
		}
		cancel()
		wg.Wait()
	})
}

// TestFilesOfOnePartnerInArrivalOrder: a partner's second file is sent
// after its first, while other partners are served in turn.
func TestFilesOfOnePartnerInArrivalOrder(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		sim := flabstest.NewPipeServer(t, flabstest.Options{Webhooks: flabstest.WebhookOptions{Manual: true}})
		cl, err := flabs.NewClient(flabs.Config{BaseURL: sim.URL(), ClientID: flabstest.DefaultClientID,
			ClientSecret: flabstest.DefaultClientSecret, HTTPClient: sim.Client(), Timeout: 5 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		s := submit.New(cl, &memRecorder{}, submit.NewLimiter(10, 1), submit.Options{Concurrency: 1})
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { s.Run(ctx); close(done) }()
		defer func() { cancel(); <-done }()
		// Partner p's files one and two, and partner q's, all queued at once.
		first, second := jobs("p-first", 20), jobs("p-second", 3)
		for i := range first {
			first[i].Partner = "p"
		}
		for i := range second {
			second[i].Partner = "p"
		}
		var wg sync.WaitGroup
		wg.Go(func() { s.Submit(ctx, first, nil) })
		synctest.Wait()
		wg.Go(func() { s.Submit(ctx, second, nil) })
		synctest.Wait()
		wg.Go(func() { s.Submit(ctx, jobs("q", 3), nil) })
		wg.Wait()
		var order []string
		for _, b := range sim.Bookings() {
			order = append(order, b.Request.IntegratorID[:strings.Index(b.Request.IntegratorID, ":")])
		}
		lastFirst, firstSecond := -1, -1
		for i, o := range order {
			if o == "p-first" {
				lastFirst = i
			}
			if o == "p-second" && firstSecond < 0 {
				firstSecond = i
			}
		}
		if firstSecond < lastFirst {
			t.Errorf("p's second file was sent before its first was done: %v", order)
		}
		// q, arriving last, is served in turn with p: done before p's
		// first file is.
		if lastQ := slices.Index(order, "q") + 2; lastQ < 2 || order[lastQ] != "q" || lastQ > lastFirst {
			t.Errorf("q waited behind p's files: %v", order)
		}
	})
}
