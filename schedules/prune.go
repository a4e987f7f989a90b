package schedules

import (
	"context"
	"log/slog"
	"time"

	"github.com/flabsync/flabsync/internal/config"
	"github.com/flabsync/flabsync/internal/logging"
	"github.com/flabsync/flabsync/internal/store"
	"github.com/flabsync/flabsync/schedules/retention"
)

// JobPrune is the daily erasure of patient data past its lifetime.
const JobPrune = "prune"

// PruneJob erases the patient data older than retention.patient_data_days
// from the database and deletes the files holding it (schedules/retention).
// A run stopped half-way leaves a consistent ledger; the next one finishes.
func PruneJob(cfg *config.Config, db *store.DB, log *slog.Logger) Func {
	return PruneJobAt(cfg, db, log, time.Time{}, nil)
}

// PruneJobAt is PruneJob as of at (zero: the time it runs), giving the
// report to report if not nil: `flabsync prune` runs it through RunOnce.
func PruneJobAt(cfg *config.Config, db *store.DB, log *slog.Logger, at time.Time, report func(retention.Report)) Func {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return func(ctx context.Context) (string, error) {
		when := at
		if when.IsZero() {
			when = time.Now()
		}
		r, err := retention.Run(ctx, db, cfg, when, retention.Options{Logger: log.With(logging.KeyComponent, "retention")})
		if report != nil {
			report(r)
		}
		return r.Summary(), err
	}
}
