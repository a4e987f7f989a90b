package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/flabsync/flabsync/internal/config"
	"github.com/flabsync/flabsync/internal/store"
	"github.com/flabsync/flabsync/mapping"
	"github.com/flabsync/flabsync/pipeline"
	"github.com/flabsync/flabsync/pipeline/inbox"
	"github.com/flabsync/flabsync/pipeline/submit"
	"github.com/flabsync/flabsync/reconcile/webhook"
	"github.com/flabsync/flabsync/schedules"
)

func runServe(ctx context.Context, m *Main, args []string) error {
	fs := m.newFlagSet("serve", "serve [--config FILE] [--name NAME]",
		"Runs flabsync as a daemon: the inbox watcher (files are taken once they settle and sent),\n"+
			"the webhook receiver (webhook.listen + webhook.path),\n"+
			"the scheduled jobs (import, mapping-sync, expected-drops; schedules/default.yaml, overridden\n"+
			"by the config's schedules), and /healthz, /readyz and Prometheus /metrics on serve.listen.\n"+
			"Several serve processes may share one PostgreSQL and one inbox folder: a file is claimed by\n"+
			"one of them, and each job runs on one at a time. Give each process on one host its own\n"+
			"--name. SIGTERM stops taking work, lets requests on their way finish, and exits.")
	cfgPath := fs.String("config", "", "config file (default $FLABSYNC_CONFIG, else ./flabsync.yaml)")
	host, _ := os.Hostname()
	nameFlag := fs.String("name", host, "this process's name: its claimed files and job leases are kept under it")
	if err := parse(fs, args); err != nil {
		return err
	}
	cfg, err := loadConfig(*cfgPath)
	if err != nil {
		return err
	}
	return serveDaemon(ctx, m, cfg, *nameFlag, nil)
}

// daemonInfo says where a started daemon listens.
type daemonInfo struct {
	Webhooks string // host:port of the webhook receiver
	Admin    string // host:port of /healthz, /readyz, /metrics
}

// serveDaemon is `flabsync serve` with its config: it runs until ctx ends
// (the demo runs it in-process). ready, if not nil, hears where it
// listens once it does.
func serveDaemon(ctx context.Context, m *Main, cfg *config.Config, name string, ready chan<- daemonInfo) error {
	if err := cfg.RequireFlabs(); err != nil {
		return &configError{err: err}
	}
	loc, err := time.LoadLocation(cfg.Timezone)
	if err != nil {
		return &configError{err: err}
	}
	log := m.logger(cfg).With("process", name)
	client, err := newFlabsClient(m, cfg)
	if err != nil {
		return err
	}
	db, err := store.Open(ctx, cfg.Database)
	if err != nil {
		return err
	}
	defer db.Close()
	holder := name + ":" + fmt.Sprint(os.Getpid())

	met := newMetrics()
	ms := mapping.NewStore(db)
	ledger := submit.NewLedger(db)
	lim := submit.NewLimiter(cfg.Flabs.RatePerSecond, cfg.Flabs.Burst)
	sub := submit.New(client, ledger, lim, submit.Options{Concurrency: cfg.Flabs.Concurrency, MaxAttempts: cfg.Flabs.MaxAttempts,
		Holder: holder, Logger: log.With("component", "submit")})
	runCtx, stopRun := context.WithCancel(context.WithoutCancel(ctx))
	defer stopRun()
	subDone := make(chan error, 1)
	go func() { subDone <- sub.Run(runCtx) }()
	ing := &pipeline.Ingester{Ledger: ledger, Submitter: sub, Holder: holder, Logger: log.With("component", "pipeline"), SkipProcessed: true}

	in, err := inbox.New(inbox.Config{Dir: cfg.Inbox.Dir, ArchiveDir: cfg.Inbox.ArchiveDir, ErrorDir: cfg.Inbox.ErrorDir,
		ProcessingDir: filepath.Join(cfg.Inbox.Dir, ".processing", name), Settle: cfg.Inbox.Settle,
		Partner: partnerByPattern(cfg), Logger: log.With("component", "inbox"),
		Filed: func(f inbox.File, dest string) {
			if err := ledger.Moved(context.WithoutCancel(ctx), f.Path, dest); err != nil {
				log.Error("ledger: record where a file went", "file", f.Rel, "err", err)
			}
		}})
	if err != nil {
		return err
	}
	if n, err := ledger.Abandon(ctx, name); err != nil {
		return err
	} else if n > 0 {
		log.Info("ledger: files this process was reading when it stopped are marked abandoned", "files", n)
	}
	if n, err := in.Recover(); err != nil {
		return err
	} else if n > 0 {
		log.Info("inbox: files left mid-way by the last run are back in the inbox", "files", n)
	}
	handle := fileHandler(cfg, ms, ing, met)

	sched := schedules.New(db, loc, holder, log.With("component", "schedules"))
	specs := schedules.Default()
	for job, spec := range cfg.Schedules {
		specs[job] = spec
	}
	jobs := map[string]schedules.Func{
		"import": func(ctx context.Context) (string, error) {
			n, err := in.Drain(ctx, handle, 2*time.Second)
			return fmt.Sprintf("%d files", n), err
		},
		"mapping-sync": func(ctx context.Context) (string, error) {
			rep, err := ms.Sync(ctx, client, cfg.Flabs.LabID, time.Now())
			if err != nil {
				return "", err
			}
			s := fmt.Sprintf("%d tests, %d packages; %d added, %d removed, %d renamed; %d orphaned aliases",
				rep.Tests, rep.Packages, len(rep.Added), len(rep.Removed), len(rep.Renamed), len(rep.Orphaned))
			if len(rep.Orphaned) > 0 {
				return s, fmt.Errorf("%d aliases lost their target: %w", len(rep.Orphaned), schedules.ErrPartial)
			}
			return s, nil
		},
		"reconcile": func(ctx context.Context) (string, error) {
			email := cfg.Mail.SMTPURL != "" && len(cfg.Mail.To) > 0
			r, err := reconcileOnce(ctx, cfg, db, time.Now(), email, log.With("component", "reconcile"))
			if err != nil {
				return "", err
			}
			s := fmt.Sprintf("%d new, %d open, %d resolved; %s", r.Result.New, r.Result.Open, r.Result.Resolved, r.Workbook)
			if r.MailErr != nil {
				return s, fmt.Errorf("email not sent (%v): %w", r.MailErr, schedules.ErrPartial)
			}
			return s, nil
		},
		"expected-drops": func(ctx context.Context) (string, error) {
			expect := map[string]string{}
			for p, pc := range cfg.Partners {
				if pc.ExpectBy != "" {
					expect[p] = pc.ExpectBy
				}
			}
			missing, err := pipeline.CheckDrops(ctx, db, expect, time.Now(), loc)
			if err != nil {
				return "", err
			}
			var names []string
			for _, d := range missing {
				names = append(names, d.Partner)
			}
			s := fmt.Sprintf("%d partners expected, %d missing %s", len(expect), len(missing), strings.Join(names, ", "))
			if len(missing) > 0 {
				return s, fmt.Errorf("%d expected files missing: %w", len(missing), schedules.ErrPartial)
			}
			return s, nil
		},
	}
	for job, spec := range specs {
		fn, ok := jobs[job]
		if !ok {
			log.Info("job not built yet; its schedule is ignored", "job", job, "spec", spec)
			continue
		}
		if err := sched.Add(job, spec, fn); err != nil {
			return &configError{err: err}
		}
	}
	met.watch(lim, sub, sched)

	recv := webhook.NewWithOptions(db, cfg.Webhook, log.With("component", "webhook"), webhook.Options{ShutdownTimeout: cfg.Serve.ShutdownTimeout})
	met.watchWebhooks(recv)
	hookLn, err := net.Listen("tcp", cfg.Webhook.Listen)
	if err != nil {
		recv.Close()
		return fmt.Errorf("serve: webhook receiver: listen on %s: %w", cfg.Webhook.Listen, err)
	}
	hookCtx, stopHooks := context.WithCancel(context.WithoutCancel(ctx))
	defer stopHooks()
	hooksDone := make(chan error, 1)
	go func() { hooksDone <- recv.Serve(hookCtx, hookLn) }()

	admin := &http.Server{Handler: adminMux(db, met, sched), ReadHeaderTimeout: 5 * time.Second}
	ln, err := net.Listen("tcp", cfg.Serve.Listen)
	if err != nil {
		return fmt.Errorf("serve: listen on %s: %w", cfg.Serve.Listen, err)
	}
	go admin.Serve(ln)

	var wg sync.WaitGroup
	wg.Go(func() {
		if err := in.Watch(ctx, handle); err != nil {
			log.Error("inbox watcher stopped", "err", err)
		}
	})
	sched.Start(ctx)
	log.Info("serving", "inbox", cfg.Inbox.Dir, "admin", "http://"+ln.Addr().String(), "jobs", fmt.Sprint(sched.Specs()))
	fmt.Fprintf(m.Stderr, "flabsync serve: inbox %s, webhooks %s%s, admin http://%s (/healthz /readyz /metrics)\n",
		cfg.Inbox.Dir, hookLn.Addr(), cfg.Webhook.Path, ln.Addr())
	if ready != nil {
		ready <- daemonInfo{Webhooks: hookLn.Addr().String(), Admin: ln.Addr().String()}
	}

	var authErr error
	select {
	case <-ctx.Done():
	case authErr = <-subDone:
	}
	log.Info("stopping", "deadline", cfg.Serve.ShutdownTimeout)
	stopCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cfg.Serve.ShutdownTimeout)
	defer cancel()
	sched.Stop(stopCtx)
	wg.Wait()
	stopHooks()
	if err := <-hooksDone; err != nil {
		log.Error("webhook receiver", "err", err)
	}
	recv.Close()
	stopRun()
	if authErr == nil {
		authErr = <-subDone
	}
	admin.Shutdown(stopCtx)
	if errors.Is(authErr, submit.ErrAuth) {
		return &partialError{msg: "serve: " + authErr.Error()}
	}
	log.Info("stopped")
	return nil
}

// fileHandler is what the inbox does with a claimed file: ingest it (a
// file whose bytes were processed before is recorded as a duplicate and
// archived; the Ingester sees to that).
func fileHandler(cfg *config.Config, ms *mapping.Store, ing *pipeline.Ingester, met *metrics) inbox.Handler {
	return func(ctx context.Context, f inbox.File) error {
		ix, err := ms.Index(ctx)
		if err != nil {
			return err
		}
		opts := readOptions(cfg, f.Partner)
		opts.Mapper = ix
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

// partnerByPattern matches top-level inbox file names against the
// partners' patterns.
func partnerByPattern(cfg *config.Config) func(string) string {
	return func(name string) string {
		for _, p := range sortedKeys(cfg.Partners) {
			if pat := cfg.Partners[p].Pattern; pat != "" {
				if ok, _ := filepath.Match(pat, name); ok {
					return p
				}
			}
		}
		return ""
	}
}
