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
	return func(ctx context.Context) (string, error) {
		r, err := retention.Run(ctx, db, cfg, time.Now(), retention.Options{Logger: log.With(logging.KeyComponent, "retention")})
		return r.Summary(), err
	}
}
