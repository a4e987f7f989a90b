package schedules

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/flabsync/flabsync/internal/config"
	"github.com/flabsync/flabsync/internal/logging"
	"github.com/flabsync/flabsync/internal/store"
	"github.com/flabsync/flabsync/mapping"
	"github.com/flabsync/flabsync/pipeline/inbox"
	"github.com/flabsync/flabsync/reconcile/nightly"
	"github.com/flabsync/flabsync/reconcile/rules"
)

// The jobs serve knows, by the names schedules use.
const (
	JobImport        = "import"
	JobMappingSync   = "mapping-sync"
	JobReconcile     = "reconcile"
	JobExpectedDrops = "expected-drops"
)

// ImportJob takes every settled file in the inbox and handles it (what
// the watcher does as files arrive, as a sweep), then sends what the
// ledger holds unsent with resume: bookings a stopped or refused run left
// behind, without their file being dropped again.
func ImportJob(in *inbox.Inbox, handle inbox.Handler, resume func(context.Context) (int, error)) Func {
	return func(ctx context.Context) (string, error) {
		n, err := in.Drain(ctx, handle, 2*time.Second)
		if err != nil {
			return fmt.Sprintf("%d files", n), err
		}
		r, err := resume(ctx)
		return fmt.Sprintf("%d files, %d unsent bookings resumed", n, r), err
	}
}

// MappingSyncJob pulls the catalogue from src into ms. report, if not
// nil, is given the sync's report. An alias that lost its target makes
// the run partial.
func MappingSyncJob(ms *mapping.Store, src mapping.Source, labID string, report func(*mapping.SyncReport)) Func {
	return func(ctx context.Context) (string, error) {
		rep, err := ms.Sync(ctx, src, labID, time.Now())
		if err != nil {
			return "", fmt.Errorf("mapping sync: %w", err)
		}
		if report != nil {
			report(rep)
		}
		s := fmt.Sprintf("%d tests, %d packages; %d added, %d removed, %d renamed; %d orphaned aliases",
			rep.Tests, rep.Packages, len(rep.Added), len(rep.Removed), len(rep.Renamed), len(rep.Orphaned))
		if len(rep.Orphaned) > 0 {
			return s, fmt.Errorf("%d aliases lost their target: %w", len(rep.Orphaned), ErrPartial)
		}
		return s, nil
	}
}

// ReconcileJob is the nightly reconciliation, mailed when mail is
// configured. A mail that could not be sent makes the run partial.
func ReconcileJob(cfg *config.Config, db *store.DB, log *slog.Logger) Func {
	return func(ctx context.Context) (string, error) {
		email := cfg.Mail.SMTPURL != "" && len(cfg.Mail.To) > 0
		r, err := nightly.Run(ctx, cfg, db, time.Now(), nightly.Options{Email: email, Logger: log.With(logging.KeyComponent, "reconcile")})
		if err != nil {
			return "", err
		}
		s := fmt.Sprintf("%d new, %d open, %d resolved; %s", r.Result.New, r.Result.Open, r.Result.Resolved, r.Workbook)
		if r.MailErr != nil {
			return s, fmt.Errorf("email not sent (%v): %w", r.MailErr, ErrPartial)
		}
		return s, nil
	}
}

// ExpectedDropsJob records a missing_drop exception for each partner with
// partners.<name>.expect_by whose file has not come by then today. A
// missing file makes the run partial.
func ExpectedDropsJob(cfg *config.Config, db *store.DB, loc *time.Location) Func {
	return func(ctx context.Context) (string, error) {
		expect := map[string]string{}
		for p, pc := range cfg.Partners {
			if pc.ExpectBy != "" {
				expect[p] = pc.ExpectBy
			}
		}
		missing, err := rules.CheckDrops(ctx, db, expect, time.Now(), loc)
		if err != nil {
			return "", err
		}
		names := make([]string, 0, len(missing))
		for _, d := range missing {
			names = append(names, d.Partner)
		}
		s := fmt.Sprintf("%d partners expected, %d missing %s", len(expect), len(missing), strings.Join(names, ", "))
		if len(missing) > 0 {
			return s, fmt.Errorf("%d expected files missing: %w", len(missing), ErrPartial)
		}
		return s, nil
	}
}
