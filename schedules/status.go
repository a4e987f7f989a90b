package schedules

import (
	"context"
	"time"

	"github.com/flabsync/flabsync/internal/config"
	"github.com/flabsync/flabsync/internal/store"
	"github.com/flabsync/flabsync/mapping"
	"github.com/flabsync/flabsync/pipeline/ledger"
	"github.com/flabsync/flabsync/reconcile"
	"github.com/flabsync/flabsync/reconcile/rules"
)

// Status is the state of a deployment at a glance: `flabsync status`
// (--json prints it as it is; keys only ever get added).
type Status struct {
	Database      string                     `json:"database"`
	SchemaVersion int64                      `json:"schema_version"`
	Catalogue     CatalogueStatus            `json:"catalogue"`
	Files         map[string]int             `json:"files"`    // by status
	Rows          map[string]int             `json:"rows"`     // sheet rows by outcome
	Bookings      map[string]int             `json:"bookings"` // by ledger state
	Jobs          []JobStatus                `json:"jobs"`     // the last run of each job
	Exceptions    map[reconcile.Category]int `json:"open_exceptions"`
	Leases        []LeaseStatus              `json:"leases"`
	// Backlog is, per partner with bookings not yet settled, how many and
	// how long the oldest has waited.
	Backlog   []BacklogStatus   `json:"backlog"`
	Schedules map[string]string `json:"schedules,omitempty"`
	// Receipts are the clinics' receipts in the outbox not yet sent.
	Receipts ledger.ReceiptBacklog `json:"receipts"`
}

// CatalogueStatus is the synced catalogue and the mapping table size.
type CatalogueStatus struct {
	LabID    string     `json:"lab_id"`
	LabName  string     `json:"lab_name"`
	Tests    int        `json:"tests"`
	Packages int        `json:"packages"`
	SyncedAt *time.Time `json:"synced_at"`
	Aliases  int        `json:"aliases"`
}

// JobStatus is the last run of one job.
type JobStatus struct {
	Job        string     `json:"job"`
	Status     string     `json:"status"`
	Summary    string     `json:"summary"`
	Error      string     `json:"error,omitempty"`
	Holder     string     `json:"holder"`
	StartedAt  time.Time  `json:"started_at"`
	FinishedAt *time.Time `json:"finished_at"`
}

// BacklogStatus is one partner's bookings waiting to be sent: pending, in
// flight or waiting to retry; the oldest waits since its file came in.
type BacklogStatus struct {
	Partner       string    `json:"partner"`
	Waiting       int       `json:"waiting"`
	OldestSince   time.Time `json:"oldest_since"`
	OldestSeconds float64   `json:"oldest_seconds"`
}

// LeaseStatus is who holds a lease (a job running, a claimed file) until when.
type LeaseStatus struct {
	Name      string    `json:"name"`
	Holder    string    `json:"holder"`
	ExpiresAt time.Time `json:"expires_at"`
	Expired   bool      `json:"expired"`
}

// GatherStatus reads the status of the deployment in db.
func GatherStatus(ctx context.Context, db *store.DB, cfg *config.Config) (*Status, error) {
	rep := &Status{Database: db.String(), Schedules: cfg.Schedules}
	var err error
	if rep.SchemaVersion, err = db.SchemaVersion(ctx); err != nil {
		return nil, err
	}
	ms := mapping.NewStore(db)
	info, err := ms.Info(ctx)
	if err != nil {
		return nil, err
	}
	es, err := ms.Entries(ctx)
	if err != nil {
		return nil, err
	}
	rep.Catalogue = CatalogueStatus{LabID: info.LabID, LabName: info.LabName, Tests: info.Tests, Packages: info.Packages, Aliases: len(es)}
	if !info.SyncedAt.IsZero() {
		t := info.SyncedAt
		rep.Catalogue.SyncedAt = &t
	}
	tally, err := ledger.New(db).Tally(ctx)
	if err != nil {
		return nil, err
	}
	rep.Files, rep.Rows, rep.Bookings = tally.Files, tally.Rows, tally.Bookings
	if rep.Receipts, err = ledger.New(db).Receipts(ctx); err != nil {
		return nil, err
	}
	backlog, err := ledger.New(db).Backlog(ctx)
	if err != nil {
		return nil, err
	}
	rep.Backlog = []BacklogStatus{}
	for _, b := range backlog {
		rep.Backlog = append(rep.Backlog, BacklogStatus{Partner: b.Partner, Waiting: b.Waiting, OldestSince: b.Oldest,
			OldestSeconds: max(0, time.Since(b.Oldest).Seconds())})
	}
	if rep.Exceptions, err = rules.OpenByCategory(ctx, db); err != nil {
		return nil, err
	}
	runs, err := db.LastJobRuns(ctx)
	if err != nil {
		return nil, err
	}
	rep.Jobs = []JobStatus{}
	for _, r := range runs {
		j := JobStatus{Job: r.Job, Status: r.Status, Summary: r.Summary, Error: r.Error, Holder: r.Holder, StartedAt: r.StartedAt.Time}
		if !r.FinishedAt.IsZero() {
			t := r.FinishedAt.Time
			j.FinishedAt = &t
		}
		rep.Jobs = append(rep.Jobs, j)
	}
	leases, err := db.Leases(ctx)
	if err != nil {
		return nil, err
	}
	rep.Leases = []LeaseStatus{}
	now := time.Now()
	for _, l := range leases {
		rep.Leases = append(rep.Leases, LeaseStatus{Name: l.Name, Holder: l.Holder, ExpiresAt: l.ExpiresAt.Time, Expired: l.ExpiresAt.Before(now)})
	}
	return rep, nil
}
