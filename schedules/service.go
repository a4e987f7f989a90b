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
	parts := Build(cfg, db, s.Client, holder, log, s.Receipts) // the same wiring as import's
	led, lim, sub, rc := parts.Ledger, parts.Limiter, parts.Submitter, parts.Courier
	ing := parts.Ingester
	ing.SkipProcessed = true
	// Alive while it runs: killed, its files and bookings are taken over
	// by another serve after inbox.takeover_after — or at once by its own
	// next run, or when it was a killed import of this machine.
	stopBeat, err := beat(ctx, led, s.Name, holder, log)
	if err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	defer stopBeat() // after every part has stopped

	peers := filepath.Join(cfg.Inbox.Dir, ".processing")
	in, err := inbox.New(inbox.Config{Dir: cfg.Inbox.Dir, ArchiveDir: cfg.Inbox.ArchiveDir, ErrorDir: cfg.Inbox.ErrorDir,
		ProcessingDir: filepath.Join(peers, s.Name), Peers: peers, Settle: cfg.Inbox.Settle, Concurrency: cfg.Inbox.Concurrency,
		Partner: PartnerByPattern(cfg), Logger: log.With(logging.KeyComponent, "inbox"),
		Filed: func(f inbox.File, dest string) {
			if err := led.Moved(context.WithoutCancel(ctx), f.Path, dest); err != nil {
				log.Error("ledger: record where a file went", logging.KeyFile, f.Rel, logging.Err(err))
			}
		},
		Refused: func(f inbox.File, dest, reason string) {
			if err := led.RecordRefusedFile(context.WithoutCancel(ctx), refusedFile(f, dest, reason)); err != nil {
				log.Error("ledger: record a refused file", logging.KeyFile, f.Rel, logging.Err(err))
			}
		}})
	if err != nil {
		return err
	}
	if n, err := led.Abandon(ctx, s.Name, in.Config().ProcessingDir); err != nil {
		return err
	} else if n > 0 {
		log.Info("ledger: files this process was reading when it stopped are marked abandoned", "files", n)
	}
	if n, err := in.Recover(); err != nil {
		return err
	} else if n > 0 {
		log.Info("inbox: files left mid-way by the last run are back in the inbox", "files", n)
	}
	read := fileReader(cfg, ms, ing, met)
	handle := func(ctx context.Context, f inbox.File) error { return read(ctx, f, 0) }
	resume := func(ctx context.Context) (int, error) { return resumeUnsettled(ctx, led, sub, s.Name, holder) }
	tk := &takeover{led: led, in: in, holder: holder, read: read, resume: resume, log: log.With(logging.KeyComponent, "takeover")}

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

	recv := webhook.NewWithOptions(db, cfg.Webhook, log.With(logging.KeyComponent, "webhook"), webhook.Options{ShutdownTimeout: cfg.Serve.ShutdownTimeout, LabID: cfg.Flabs.LabID})
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
	rcCtx, stopReceipts := context.WithCancel(context.WithoutCancel(ctx))
	defer stopReceipts()
	watched := make(chan struct{})
	tookOver := make(chan struct{})

	g.Go(func() error {
		if err := sub.Run(subCtx); err != nil {
			// Only refused credentials end the submitter (flabs.ErrAuth):
			// nothing more can be sent until a person fixes them, so the
			// service stops (its service manager restarts it and alerts)
			// rather than keep claiming files it cannot send.
			return fmt.Errorf("serve: %w: %w", flabs.ErrAuth, err)
		}
		return nil
	})
	g.Go(func() error {
		// Receipts go as the ledger queues them, and those any process
		// left unsent. At a stop, once no file can queue one, what is
		// due goes within the shutdown timeout; the rest stays queued.
		rc.Run(rcCtx)
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cfg.Serve.ShutdownTimeout)
		defer cancel()
		if _, err := rc.Flush(fctx); err != nil {
			log.Error("receipts: read the outbox", logging.Err(err))
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
		defer close(tookOver)
		tk.run(gctx)
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
		for _, part := range []chan struct{}{watched, tookOver} {
			select {
			case <-part:
			case <-stopCtx.Done():
			}
		}
		stopSub()
		stopReceipts()
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
	case errors.Is(err, flabs.ErrAuth):
		return fmt.Errorf("serve: %w: %w", flabs.ErrAuth, err)
	case ctx.Err() != nil:
		return ctx.Err()
	}
	log.Warn("Flabs did not answer at start; going on (bookings wait and retry)", logging.Err(err))
	return nil
}

// fileReader is what serve does with a file: ingest it (a file whose
// bytes were processed before is recorded as a duplicate and archived;
// the Ingester sees to that). resumes is the ledger record of a reading
// of the file that a process that is gone left half done (0: none). The
// ledger queues the file's receipt with its final state; nothing here
// sends it.
func fileReader(cfg *config.Config, ms *mapping.Store, ing *pipeline.Ingester, met *metrics) func(ctx context.Context, f inbox.File, resumes int64) error {
	return func(ctx context.Context, f inbox.File, resumes int64) error {
		ix, err := ms.Index(ctx)
		if err != nil {
			return err
		}
		opts := pipeline.OptionsFor(cfg, f.Partner, time.Now())
		opts.Mapper = ix
		opts.Resumes = resumes
		res, err := ing.Ingest(ctx, f.Path, opts)
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

// PartnerByPattern names the partner of a top-level inbox file as
// `flabsync import` does: pipeline.PartnerFor (partners.<name>.pattern,
// then the file-name rule).
func PartnerByPattern(cfg *config.Config) func(string) string {
	return func(name string) string { return pipeline.PartnerFor(cfg, name) }
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
