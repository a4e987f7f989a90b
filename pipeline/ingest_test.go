package pipeline_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"testing"

	"github.com/flabsync/flabsync/internal/flabs"
	"github.com/flabsync/flabsync/internal/store"
	"github.com/flabsync/flabsync/internal/store/storetest"
	"github.com/flabsync/flabsync/pipeline"
	"github.com/flabsync/flabsync/pipeline/ledger"
	"github.com/flabsync/flabsync/pipeline/submit"
)

// booker books every request.
type booker struct{}

func (booker) CreateBilling(_ context.Context, req *flabs.BillingRequest) (*flabs.BillingResponse, error) {
	return &flabs.BillingResponse{Success: true, IntegratorID: req.IntegratorID, PreBookingID: "pb-" + req.IntegratorID}, nil
}

// TestTakeoverOfAReimportReadsOn: a hand-run import of a file already
// processed is killed mid-file; serve, which skips processed content,
// takes its reading over (Resumes) and reads it on: the old reading is
// replaced (abandoned), not left reading for good beside a new
// "duplicate" record with a receipt of its own.
func TestTakeoverOfAReimportReadsOn(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := t.Context()
		led := ledger.New(db)
		sub := submit.New(booker{}, led, submit.NewLimiter(1000, 100), submit.Options{Concurrency: 2, Holder: "serve:1"})
		runCtx, stop := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { done <- sub.Run(runCtx) }()
		defer func() { stop(); <-done }()
		ing := &pipeline.Ingester{Ledger: led, Submitter: sub, Holder: "serve:1", SkipProcessed: true}

		body := []byte("Booking ID,Patient Name,Age,Gender,Tests\nS1,Ann Lee,30,F,CBC\nS2,Bob Lee,40,M,CBC\n")
		path := filepath.Join(t.TempDir(), "sunrise_a.csv")
		if err := os.WriteFile(path, body, 0o600); err != nil {
			t.Fatal(err)
		}
		opts := pipeline.ReadOptions{Partner: "sunrise", LeadSource: "sunrise", LabID: "1"}
		first, err := ing.Ingest(ctx, path, opts)
		if err != nil || first.Counts.Submitted != 2 {
			t.Fatalf("first reading: %+v, %v", first, err)
		}

		// The re-import, killed after it started: its record stays reading.
		sum := sha256.Sum256(body)
		old, _, err := led.StartFile(ctx, ledger.File{Partner: "sunrise", Name: "sunrise_a.csv", Path: path, SHA256: hex.EncodeToString(sum[:]), By: "ops:9"})
		if err != nil {
			t.Fatal(err)
		}
		if won, err := led.TakeFile(ctx, old, "ops:9", "serve:1"); err != nil || !won {
			t.Fatalf("take over: %v, %v", won, err)
		}
		opts.Resumes = old
		again, err := ing.Ingest(ctx, path, opts)
		if err != nil {
			t.Fatal(err)
		}
		if again.Duplicate || again.Counts.Duplicate != 2 {
			t.Errorf("reading taken over: duplicate record %v, counts %+v; want read on, 2 duplicate rows", again.Duplicate, again.Counts)
		}
		f, err := led.FileByID(ctx, old)
		if err != nil {
			t.Fatal(err)
		}
		if f.Status != ledger.FileAbandoned {
			t.Errorf("the reading taken over is %s; want abandoned (read again)", f.Status)
		}
		tally, err := led.Tally(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if tally.Files[string(ledger.FileReading)] != 0 || tally.Files[string(ledger.FileDuplicate)] != 0 {
			t.Errorf("files %v; want none reading, none duplicate", tally.Files)
		}
	})
}
