package schedules

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/flabsync/flabsync/internal/config"
	"github.com/flabsync/flabsync/internal/mail"
	"github.com/flabsync/flabsync/internal/sheet"
	"github.com/flabsync/flabsync/pipeline/inbox"
)

// sent collects the messages a Sender was given.
type sent struct {
	mu       sync.Mutex
	subjects []string
	texts    []string
}

func (s *sent) Send(_ context.Context, m mail.Message) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.subjects = append(s.subjects, m.Subject)
	s.texts = append(s.texts, m.Text)
	return nil
}

// Each file the inbox handles gets exactly one receipt: the handler's
// when it ingested the file (the inbox's Refused callback that follows a
// failed file sends none), the callback's when the file was refused
// before it was claimed, or before the handler reached it; a file put
// back at a stop gets none yet.
func TestInboxReceiptsOnePerFile(t *testing.T) {
	cfg := config.Default()
	cfg.Partners = map[string]config.Partner{"sunrise": {Email: config.StringList{"desk@sunrise.example"}}}
	s := &sent{}
	rx := newInboxReceipts(&cfg, s, nil, slog.New(slog.DiscardHandler))
	ctx := context.Background()
	file := func(name string) inbox.File {
		return inbox.File{Path: "/inbox/.processing/sunrise/" + name, Name: name, Partner: "sunrise"}
	}

	// Ingested and refused (not readable): the handler's receipt, once.
	xls := file("sunrise_old.xls")
	rx.processed(ctx, xls, nil, fmt.Errorf("ingest sunrise_old.xls: %w: old binary Excel (.xls) is not read; save it as .xlsx", sheet.ErrRefused))
	rx.refused(ctx, xls, "/inbox/errors/sunrise_old.xls", "old binary Excel")
	// Refused before it was claimed: the callback's, with the inbox's reason.
	rx.refused(ctx, inbox.File{Path: "/inbox/errors/sunrise_empty.csv", Name: "sunrise_empty.csv", Partner: "sunrise"},
		"/inbox/errors/sunrise_empty.csv", "the file is empty (0 bytes)")
	// The handler failed before ingesting (a lab fault): the callback's, without the detail.
	rx.refused(ctx, file("sunrise_locked.csv"), "/inbox/errors/sunrise_locked.csv", "mapping: database is locked")
	// Put back at a stop: none.
	rx.processed(ctx, file("sunrise_stopped.csv"), nil, fmt.Errorf("ingest: %w", context.Canceled))
	rx.close(5 * time.Second)

	s.mu.Lock()
	defer s.mu.Unlock()
	want := []string{
		"Receipt for sunrise_empty.csv: could not be read",
		"Receipt for sunrise_locked.csv: received, not processed yet",
		"Receipt for sunrise_old.xls: could not be read",
	}
	if got := slices.Sorted(slices.Values(s.subjects)); !slices.Equal(got, want) {
		t.Errorf("receipts sent:\n got %q\nwant %q", got, want)
	}
	for _, text := range s.texts {
		if strings.Contains(text, "database") {
			t.Errorf("a lab fault's detail reached the clinic:\n%s", text)
		}
	}
	if len(rx.queued) != 0 {
		t.Errorf("marks left behind: %v", rx.queued)
	}

	// No sender and no mail configured: no receipts, and nil does nothing.
	if none := newInboxReceipts(&cfg, nil, nil, slog.New(slog.DiscardHandler)); none != nil {
		t.Fatal("receipts without mail configured")
	} else {
		none.processed(ctx, xls, nil, errors.New("x"))
		none.refused(ctx, xls, "/d", "x")
		none.close(time.Second)
	}
}
