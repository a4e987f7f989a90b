package schedules_test

import (
	"context"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"

	"github.com/flabsync/flabsync/internal/config"
	"github.com/flabsync/flabsync/internal/store/storetest"
	"github.com/flabsync/flabsync/schedules"
)

// TestPruneJob: the daily job runs a prune and sums it up in one line.
func TestPruneJob(t *testing.T) {
	db := storetest.OpenSQLite(t)
	cfg := config.Default()
	dir := t.TempDir()
	cfg.Inbox.ArchiveDir, cfg.Inbox.ErrorDir, cfg.Report.Dir = filepath.Join(dir, "a"), filepath.Join(dir, "e"), filepath.Join(dir, "r")
	s, err := schedules.PruneJob(&cfg, db, slog.New(slog.DiscardHandler))(context.Background())
	if err != nil || !strings.HasPrefix(s, "erased data before ") || !strings.Contains(s, "0 bookings") {
		t.Errorf("prune job: %q, %v", s, err)
	}
}
