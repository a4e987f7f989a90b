package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/flabsync/flabsync/internal/config"
	"github.com/flabsync/flabsync/internal/flabs"
	"github.com/flabsync/flabsync/internal/logging"
	"github.com/flabsync/flabsync/internal/store"
)

// Version is set at build time with -ldflags "-X main.Version=…".
var Version = "dev"

// Exit codes: the product's contract with cron and scripts.
const (
	ExitOK      = 0 // all good
	ExitPartial = 1 // finished, but some rows or checks failed (or a runtime failure)
	ExitUsage   = 2 // bad usage or config
)

// Main holds the process-wide wiring: where output goes and the
// environment. Tests build one with buffers.
type Main struct {
	Stdout io.Writer
	Stderr io.Writer
	Stdin  io.Reader

	// flagSetMade, when set, is told of every flag set a command makes
	// (gendocs reads the commands' own flags through it).
	flagSetMade func(fs *flag.FlagSet, synopsis, description string)
	// JobWait is how long a job run by hand (reconcile, mapping sync,
	// prune) waits for the same job running elsewhere before it gives up
	// naming the holder (default schedules.DefaultHandWait).
	JobWait time.Duration
}

// NewMain returns a Main on the process's standard streams.
func NewMain() *Main {
	return &Main{Stdout: os.Stdout, Stderr: os.Stderr, Stdin: os.Stdin}
}

// command is one subcommand.
type command struct {
	name    string
	summary string
	run     func(ctx context.Context, m *Main, args []string) error
}

// commands lists the subcommands in the order help shows them.
func commands() []command {
	return []command{
		{"demo", "run the product end to end on the built-in Flabs simulator (no config needed)", runDemo},
		{"import", "read, validate and map partner sheets (--dry-run: without sending)", runImport},
		{"serve", "run as a daemon: inbox watcher, scheduled jobs, /healthz /readyz /metrics", runServe},
		{"reconcile", "compare sent bookings with Flabs' webhooks; write the exception workbook (--email: mail it)", runReconcile},
		{"exceptions", "list, close, snooze or reopen the nightly report's exceptions, or import them from a workbook", runExceptions},
		{"mapping", "the test/package name → Flabs ID table: sync, lookup, suggest, list, import, export", runMapping},
		{"sim", "run the built-in Flabs simulator on a local address", runSim},
		{"webhooks", "Flabs webhooks: subscribe, listen (the receiver alone), replay stored bodies", runWebhooks},
		{"status", "check the database answers; show job runs and leases", runStatus},
		{"prune", "erase patient data past retention.patient_data_days (--dry-run: count it)", runPrune},
		{"config", "print an example config (example) or check the one in force (check)", runConfig},
		{"doctor", "check a setup works before going live: config, database, Flabs, mail, inbox, webhooks", runDoctor},
		{"version", "print the version, the commit it was built from and its time (also --version)", runVersion},
		{"help", "list the commands, or explain one: flabsync help COMMAND", runHelp},
	}
}

// Run runs the command named by args[0] and returns the exit code.
func (m *Main) Run(ctx context.Context, args []string) int {
	flabs.UserAgent = "flabsync/" + currentVersion().Version
	if len(args) == 0 {
		m.usage()
		return ExitUsage
	}
	name := args[0]
	if name == "-h" || name == "--help" || name == "-help" {
		m.usage()
		return ExitOK
	}
	if name == "--version" || name == "-version" {
		name = "version"
	}
	for _, c := range commands() {
		if c.name == name {
			return m.exit(c.run(ctx, m, args[1:]))
		}
	}
	if name == gendocsCommand { // hidden: make docs
		return m.exit(runGendocs(ctx, m, args[1:]))
	}
	return m.exit(usageErrorf("unknown command %q", name).hint("run 'flabsync help' to list the commands"))
}

// exit prints err for a person and maps it to an exit code.
func (m *Main) exit(err error) int {
	if err == nil || errors.Is(err, flag.ErrHelp) {
		return ExitOK
	}
	var ue *usageError
	var ce *configError
	var pe *partialError
	switch {
	case errors.As(err, &ue):
		fmt.Fprintln(m.Stderr, "flabsync:", ue.msg)
		if ue.hintText != "" {
			fmt.Fprintln(m.Stderr, "hint:", ue.hintText)
		}
		return ExitUsage
	case errors.As(err, &ce):
		// Validation lists every problem, one per line.
		fmt.Fprintln(m.Stderr, "flabsync: config:", strings.ReplaceAll(ce.err.Error(), "\n", "\n  "))
		return ExitUsage
	case errors.As(err, &pe):
		fmt.Fprintln(m.Stderr, "flabsync:", pe.msg)
		return ExitPartial
	case errors.Is(err, context.Canceled):
		fmt.Fprintln(m.Stderr, "flabsync: stopped")
		return ExitPartial
	}
	fmt.Fprintln(m.Stderr, "flabsync:", err)
	return ExitPartial
}

func (m *Main) usage() {
	w := m.Stderr
	fmt.Fprintln(w, "flabsync moves partner clinics' booking sheets into the Flabs LIS and proves none got lost.")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Usage: flabsync COMMAND [flags]")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Commands:")
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-10s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Every command takes -h. Config: --config FILE, else $FLABSYNC_CONFIG, else ./flabsync.yaml,")
	fmt.Fprintln(w, "else built-in defaults. Exit codes: 0 all good, 1 some rows or checks failed, 2 bad usage or config.")
}

func runHelp(_ context.Context, m *Main, args []string) error {
	if len(args) == 0 {
		m.usage()
		return nil
	}
	for _, c := range commands() {
		if c.name == args[0] && c.name != "help" {
			code := m.Run(context.Background(), []string{c.name, "-h"})
			if code != ExitOK {
				return &partialError{msg: "help failed"}
			}
			return nil
		}
	}
	return usageErrorf("no command %q", args[0]).hint("run 'flabsync help' to list the commands")
}

// usageError is a mistake in how the command was called.
type usageError struct {
	msg      string
	hintText string
}

func (e *usageError) Error() string { return e.msg }

func (e *usageError) hint(h string) *usageError { e.hintText = h; return e }

func usageErrorf(format string, args ...any) *usageError {
	return &usageError{msg: fmt.Sprintf(format, args...)}
}

// configError is a config that cannot be loaded or is invalid.
type configError struct{ err error }

func (e *configError) Error() string { return "config: " + e.err.Error() }
func (e *configError) Unwrap() error { return e.err }

// partialError means the command finished but something it checked or
// processed failed; it maps to exit code 1.
type partialError struct{ msg string }

func (e *partialError) Error() string { return e.msg }

// newFlagSet returns a FlagSet that prints its usage to m.Stderr with a
// one-line description and returns errors instead of exiting.
func (m *Main) newFlagSet(name, synopsis, description string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(m.Stderr)
	fs.Usage = func() {
		fmt.Fprintf(m.Stderr, "Usage: flabsync %s\n\n%s\n", synopsis, description)
		var has bool
		fs.VisitAll(func(*flag.Flag) { has = true })
		if has {
			fmt.Fprintln(m.Stderr, "\nFlags:")
			fs.PrintDefaults()
		}
	}
	if m.flagSetMade != nil {
		m.flagSetMade(fs, synopsis, description)
	}
	return fs
}

// parse parses args, turning flag errors into usage errors (exit 2).
func parse(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usageErrorf("%s: %v", fs.Name(), err).hint("run 'flabsync " + fs.Name() + " -h'")
	}
	return nil
}

// loadConfig loads the config named by the --config flag value (or the
// environment, or the default path) and validates it.
func loadConfig(flagPath string) (*config.Config, error) {
	path, explicit := config.Path(flagPath)
	cfg, err := config.Load(path, explicit)
	if err != nil {
		return nil, &configError{err: err}
	}
	return &cfg, nil
}

// logger builds the logger the config asks for, writing to m.Stderr.
func (m *Main) logger(cfg *config.Config) *slog.Logger {
	l, err := logging.New(m.Stderr, cfg.Log.Level, cfg.Log.Format)
	if err != nil { // Validate already checked; keep going with defaults
		l, _ = logging.New(m.Stderr, "info", "text")
	}
	return l
}

// sortedKeys returns m's keys in order.
func sortedKeys[K ~string, V any](m map[K]V) []K {
	keys := make([]K, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// openStore opens the configured database (applying pending migrations).
func openStore(ctx context.Context, cfg *config.Config) (*store.DB, error) {
	return store.Open(ctx, cfg.Database)
}

// openConfigStore loads the config named by the --config flag value and
// opens its database: what most commands do first.
func openConfigStore(ctx context.Context, flagPath string) (*config.Config, *store.DB, error) {
	cfg, err := loadConfig(flagPath)
	if err != nil {
		return nil, nil, err
	}
	db, err := openStore(ctx, cfg)
	if err != nil {
		return nil, nil, err
	}
	return cfg, db, nil
}
