package schedules

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/flabsync/flabsync/internal/config"
	"github.com/flabsync/flabsync/internal/logging"
	"github.com/flabsync/flabsync/pipeline"
	"github.com/flabsync/flabsync/pipeline/inbox"
	"github.com/flabsync/flabsync/pipeline/ledger"
	"github.com/flabsync/flabsync/pipeline/receipt"
)

// inboxReceipts sends the clinics' receipts for the files the inbox
// takes: a handled file's from the handler, with its counts; a file
// refused before it was handled from the inbox's Refused callback; never
// both. A nil *inboxReceipts (no mail) does nothing.
type inboxReceipts struct {
	r *receipt.Receipts

	mu     sync.Mutex
	queued map[string]bool // processing paths of failed files whose receipt the handler queued
}

// newInboxReceipts returns the service's receipts, sent by send, else by
// email when mail.smtp_url is set; nil when neither.
func newInboxReceipts(cfg *config.Config, send receipt.Sender, led *ledger.Ledger, log *slog.Logger) *inboxReceipts {
	r, err := receipt.Open(cfg, send, led, log)
	if err != nil {
		log.Error("no receipts will be sent", logging.Err(err))
	}
	if r == nil {
		return nil
	}
	return &inboxReceipts{r: r, queued: map[string]bool{}}
}

// processed queues the receipt of a file the handler ingested (in may be
// nil), unless the run stopped in the middle of it: then it goes back to
// the inbox and gets its receipt when it is taken again.
func (x *inboxReceipts) processed(ctx context.Context, f inbox.File, in *pipeline.Ingested, err error) {
	if x == nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return
	}
	o := receipt.Outcome{Partner: f.Partner, Name: f.Name, Err: err}
	if in != nil {
		o.FileID = in.FileID
	}
	if err != nil { // the inbox refuses it next: its Refused callback must not send a second receipt
		x.mu.Lock()
		x.queued[f.Path] = true
		x.mu.Unlock()
	}
	x.r.Processed(ctx, o)
}

// refused is the inbox's Refused callback: a file refused before it was
// claimed (f.Path is where it went) gets a receipt with the inbox's
// reason; one the handler failed without queuing a receipt (a fault on
// the lab's side, not the file's) gets one saying so.
func (x *inboxReceipts) refused(ctx context.Context, f inbox.File, dest, reason string) {
	if x == nil {
		return
	}
	x.mu.Lock()
	done := x.queued[f.Path]
	delete(x.queued, f.Path)
	x.mu.Unlock()
	switch {
	case done:
	case f.Path == dest:
		x.r.Refused(ctx, f.Partner, f.Name, reason)
	default:
		x.r.Refused(ctx, f.Partner, f.Name, "")
	}
}

// close waits up to d for the queued receipts to be sent.
func (x *inboxReceipts) close(d time.Duration) {
	if x != nil {
		x.r.CloseWithin(d)
	}
}
