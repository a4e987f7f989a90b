package schedules

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/flabsync/flabsync/internal/config"
	"github.com/flabsync/flabsync/internal/flabs"
	"github.com/flabsync/flabsync/internal/logging"
	"github.com/flabsync/flabsync/internal/store"
	"github.com/flabsync/flabsync/mapping"
	"github.com/flabsync/flabsync/pipeline"
	"github.com/flabsync/flabsync/pipeline/inbox"
	"github.com/flabsync/flabsync/pipeline/ledger"
	"github.com/flabsync/flabsync/pipeline/receipt"
	"github.com/flabsync/flabsync/pipeline/submit"
	"github.com/flabsync/flabsync/reconcile/webhook"
)

// Addrs says where a running Service listens.
type Addrs struct {
	Webhooks string // host:port of the webhook receiver
	Admin    string // host:port of /healthz, /readyz, /metrics
}

// Service is `flabsync serve`: it owns every long-lived part — the
// submitter, the inbox watcher, the webhook receiver, the admin server
// (/healthz, /readyz, /metrics) and the scheduler with its jobs — and
// runs them in one errgroup. A fatal error in any part (Flabs refusing
// the credentials, a listener failing) ends them all; nothing outlives
// Run; the database closes last.
type Service struct {
	Config *config.Config
	Client *flabs.Client
	Name   string // this process's name: its claimed files and job leases are kept under it
	Logger *slog.Logger

	// Ready, if set, is called once the service listens.
	Ready func(Addrs)
	// Receipts is where clinics' receipts go (partners.<name>.email);
	// nil: by email when mail.smtp_url is set, else none.
	Receipts receipt.Sender
}

// ErrCredentials ends Run when Flabs refuses the credentials, at start or
// while sending: nothing more can be sent until a person fixes them, so
// the service stops (and its service manager restarts it and alerts)
// rather than keep claiming files it cannot send.
var ErrCredentials = errors.New("Flabs refused the credentials (flabs.client_id / flabs.client_secret)")

// Run serves until ctx ends (a graceful stop: no new files or jobs,
// requests on their way finish within serve.shutdown_timeout) or a part
// fails (returned).
func (s *Service) Run(ctx context.Context) error {
	cfg := s.Config
	log := s.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	loc, err := time.LoadLocation(cfg.Timezone)
	if err != nil {
		return fmt.Errorf("serve: timezone %q: %w", cfg.Timezone, err)
	}
	if err := s.checkCredentials(ctx, log); err != nil {
		return err
	}
	db, err := store.Open(ctx, cfg.Database)
	if err != nil {
		return err
	}
	defer db.Close()
	holder := s.Name + ":" + fmt.Sprint(os.Getpid())

	met := newMetrics()
	ms := mapping.NewStore(db)
	led := ledger.New(db)
	rx := newInboxReceipts(cfg, s.Receipts, led, log)
	defer rx.close(cfg.Serve.ShutdownTimeout) // after every part has stopped, before the database closes
	// One Flabs limit for the lab: shared by the processes on one PostgreSQL.
	lim := submit.LimiterFor(db, cfg.Flabs.ClientID, cfg.Flabs.RatePerSecond, cfg.Flabs.Burst)
	sub := submit.New(s.Client, led, lim, submit.Options{Concurrency: cfg.Flabs.Concurrency, MaxAttempts: cfg.Flabs.MaxAttempts,
		Holder: holder, Logger: log.With(logging.KeyComponent, "submit")})
	ing := &pipeline.Ingester{Ledger: led, Submitter: sub, Holder: holder, Logger: log.With(logging.KeyComponent, "pipeline"), SkipProcessed: true}

	in, err := inbox.New(inbox.Config{Dir: cfg.Inbox.Dir, ArchiveDir: cfg.Inbox.ArchiveDir, ErrorDir: cfg.Inbox.ErrorDir,
		ProcessingDir: filepath.Join(cfg.Inbox.Dir, ".processing", s.Name), Settle: cfg.Inbox.Settle,
		Partner: PartnerByPattern(cfg), Logger: log.With(logging.KeyComponent, "inbox"),
		Filed: func(f inbox.File, dest string) {
			if err := led.Moved(context.WithoutCancel(ctx), f.Path, dest); err != nil {
				log.Error("ledger: record where a file went", logging.KeyFile, f.Rel, logging.Err(err))
			}
		},
		Refused: func(f inbox.File, dest, reason string) {
			if err := led.RecordRefused(context.WithoutCancel(ctx), f.Partner, f.Name, dest, reason); err != nil {
				log.Error("ledger: record a refused file", logging.KeyFile, f.Rel, logging.Err(err))
			}
			rx.refused(ctx, f, dest, reason)
		}})
	if err != nil {
		return err
	}
	if n, err := led.Abandon(ctx, s.Name); err != nil {
		return err
	} else if n > 0 {
		log.Info("ledger: files this process was reading when it stopped are marked abandoned", "files", n)
	}
	if n, err := in.Recover(); err != nil {
		return err
	} else if n > 0 {
		log.Info("inbox: files left mid-way by the last run are back in the inbox", "files", n)
	}
	handle := fileHandler(cfg, ms, ing, met, rx)
	resume := func(ctx context.Context) (int, error) { return resumeUnsettled(ctx, led, sub, s.Name, holder) }

	sched := New(db, loc, holder, log.With(logging.KeyComponent, "schedules"))
	specs := Default()
	for job, spec := range cfg.Schedules {
		specs[job] = spec
	}
	jobs := map[string]Func{
		JobImport:        ImportJob(in, handle, resume),
		JobMappingSync:   MappingSyncJob(ms, s.Client, cfg.Flabs.LabID, nil),
		JobReconcile:     ReconcileJob(cfg, db, log),
		JobExpectedDrops: ExpectedDropsJob(cfg, db, loc),
		JobPrune:         PruneJob(cfg, db, log),
	}
	for job, spec := range specs {
		fn, ok := jobs[job]
		if !ok {
			log.Info("job not built yet; its schedule is ignored", logging.KeyJob, job, "spec", spec)
			continue
		}
		if err := sched.Add(job, spec, fn); err != nil {
			return fmt.Errorf("serve: schedules.%s: %w", job, err)
		}
	}
	met.watch(lim, sub, sched, cfg.PartnerNames())

	recv := webhook.NewWithOptions(db, cfg.Webhook, log.With(logging.KeyComponent, "webhook"), webhook.Options{ShutdownTimeout: cfg.Serve.ShutdownTimeout})
	defer recv.Close()
	met.watchWebhooks(recv)
	hookLn, err := net.Listen("tcp", cfg.Webhook.Listen)
	if err != nil {
		return fmt.Errorf("serve: webhook receiver: listen on %s: %w", cfg.Webhook.Listen, err)
	}
	adminLn, err := net.Listen("tcp", cfg.Serve.Listen)
	if err != nil {
		hookLn.Close()
		return fmt.Errorf("serve: admin: listen on %s: %w", cfg.Serve.Listen, err)
	}
	admin := &http.Server{Handler: adminMux(db, met), ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout: 10 * time.Second, WriteTimeout: 30 * time.Second, IdleTimeout: 60 * time.Second}

	// One group owns every part. gctx ends on a stop or on the first
	// part to fail; the stopper then winds the rest down in order:
	// producers first (the scheduler's jobs, the inbox watcher), then the
	// submitter once nothing more can reach it, then the listeners.
	g, gctx := errgroup.WithContext(ctx)
	subCtx, stopSub := context.WithCancel(context.WithoutCancel(ctx))
	defer stopSub()
	hookCtx, stopHooks := context.WithCancel(context.WithoutCancel(ctx))
	defer stopHooks()
	watched := make(chan struct{})

	g.Go(func() error {
		if err := sub.Run(subCtx); err != nil {
			return fmt.Errorf("serve: %w: %w", ErrCredentials, err)
		}
		return nil
	})
	g.Go(func() error {
		// What earlier runs left unsent goes first, files or no files.
		if n, err := resume(gctx); err != nil && gctx.Err() == nil {
			log.Error("resume unsent bookings", logging.Err(err))
		} else if n > 0 {
			log.Info("unsent bookings from earlier runs sent again", "bookings", n)
		}
		return nil
	})
	g.Go(func() error {
		defer close(watched)
		if err := in.Watch(gctx, handle); err != nil && gctx.Err() == nil {
			return fmt.Errorf("serve: inbox watcher: %w", err)
		}
		return nil
	})
	g.Go(func() error {
		if err := recv.Serve(hookCtx, hookLn); err != nil {
			return fmt.Errorf("serve: webhook receiver: %w", err)
		}
		return nil
	})
	g.Go(func() error {
		if err := admin.Serve(adminLn); err != nil && !errors.Is(err, http.ErrServerClosed) {
			return fmt.Errorf("serve: admin: %w", err)
		}
		return nil
	})
	g.Go(func() error {
		sched.Start(gctx)
		<-gctx.Done()
		log.Info("stopping", "deadline", cfg.Serve.ShutdownTimeout)
		stopCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cfg.Serve.ShutdownTimeout)
		defer cancel()
		sched.Stop(stopCtx)
		select {
		case <-watched:
		case <-stopCtx.Done():
		}
		stopSub()
		stopHooks()
		return admin.Shutdown(stopCtx)
	})

	log.Info("serving", "inbox", cfg.Inbox.Dir, "admin", "http://"+adminLn.Addr().String(), "jobs", fmt.Sprint(sched.Specs()))
	if s.Ready != nil {
		s.Ready(Addrs{Webhooks: hookLn.Addr().String(), Admin: adminLn.Addr().String()})
	}
	err = g.Wait()
	if err != nil {
		log.Error("stopped", logging.Err(err))
		return err
	}
	log.Info("stopped")
	return nil
}

// checkCredentials asks Flabs for the labs once before anything starts:
// refused credentials end the service at once; Flabs being unreachable
// does not (the submitter retries, and webhooks still arrive).
func (s *Service) checkCredentials(ctx context.Context, log *slog.Logger) error {
	cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	_, err := s.Client.Labs(cctx)
	switch {
	case err == nil:
		return nil
	case flabs.ClassOf(err) == flabs.ClassAuth:
		return fmt.Errorf("serve: %w: %w", ErrCredentials, err)
	case ctx.Err() != nil:
		return ctx.Err()
	}
	log.Warn("Flabs did not answer at start; going on (bookings wait and retry)", logging.Err(err))
	return nil
}

// fileHandler is what the inbox does with a claimed file: ingest it (a
// file whose bytes were processed before is recorded as a duplicate and
// archived; the Ingester sees to that).
func fileHandler(cfg *config.Config, ms *mapping.Store, ing *pipeline.Ingester, met *metrics, rx *inboxReceipts) inbox.Handler {
	return func(ctx context.Context, f inbox.File) error {
		ix, err := ms.Index(ctx)
		if err != nil {
			return err
		}
		opts := pipeline.OptionsFor(cfg, f.Partner, time.Now())
		opts.Mapper = ix
		res, err := ing.Ingest(ctx, f.Path, opts)
		rx.processed(ctx, f, res, err)
		switch {
		case res != nil && res.Duplicate:
			met.files.WithLabelValues("duplicate").Inc()
			return nil
		case res != nil:
			met.count(res.Counts)
		}
		if err != nil {
			if ctx.Err() == nil {
				met.files.WithLabelValues("refused").Inc()
			}
			return err
		}
		met.files.WithLabelValues("archived").Inc()
		return nil
	}
}

// PartnerByPattern matches top-level inbox file names against the
// partners' patterns (partners.<name>.pattern), in name order.
func PartnerByPattern(cfg *config.Config) func(string) string {
	return func(name string) string {
		for _, p := range cfg.PartnerNames() {
			if pat := cfg.Partners[p].Pattern; pat != "" {
				if ok, _ := filepath.Match(pat, name); ok {
					return p
				}
			}
		}
		return ""
	}
}

// resumeBatch is how many unsettled bookings one resume takes at a time.
const resumeBatch = 500

// resumeUnsettled sends the bookings the ledger holds unsent that this
// process may take (ledger.Unsettled) until none are left, and returns
// how many it took.
func resumeUnsettled(ctx context.Context, led *ledger.Ledger, sub *submit.Submitter, name, holder string) (int, error) {
	total := 0
	for ctx.Err() == nil {
		jobs, err := led.Unsettled(ctx, name, holder, time.Now(), resumeBatch)
		if err != nil || len(jobs) == 0 {
			return total, err
		}
		sub.Submit(ctx, jobs, nil)
		total += len(jobs)
	}
	return total, nil
}
