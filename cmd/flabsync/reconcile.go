package main

import (
	"context"
	"fmt"
	"time"

	"github.com/flabsync/flabsync/reconcile/nightly"
	"github.com/flabsync/flabsync/schedules"
)

func runReconcile(ctx context.Context, m *Main, args []string) error {
	fs := m.newFlagSet("reconcile", "reconcile [--at TIME [--out FILE]] [--email] [--json] [--config FILE]",
		"Compares what flabsync sent with what Flabs' webhooks said, as of TIME (default now), and\n"+
			"writes report.dir/exceptions-<date>.xlsx: a Summary sheet, one sheet per kind of problem,\n"+
			"and an Unmapped sheet ops fill in and import back ('flabsync mapping import --review');\n"+
			"plus each partner's reject file. Prints a digest; --email mails it to mail.to with the\n"+
			"workbook attached. Exceptions are data, not failures: exit 0 when the run completes,\n"+
			"1 when the email could not be sent (the workbook stays on disk), or when the nightly run\n"+
			"is running elsewhere (it says where). --at TIME is a read-only look at another time: it\n"+
			"prints what a run then would find and stores nothing (no exceptions, trend, job run or\n"+
			"reject file); it writes a workbook only with --out (--email mails that one).")
	cfgPath := fs.String("config", "", "config file (default $FLABSYNC_CONFIG, else ./flabsync.yaml)")
	atFlag := fs.String("at", "", `look as of this time, read-only: RFC 3339 or "2006-01-02 15:04" in the config's timezone (default now: the nightly run)`)
	outFlag := fs.String("out", "", "write the workbook to this file (default report.dir/exceptions-<date>.xlsx; with --at, none)")
	email := fs.Bool("email", false, "mail the digest and the workbook to mail.to")
	asJSON := fs.Bool("json", false, `print {"workbook", "summary", "exceptions": [...]} (the stable shape)`)
	if err := parse(fs, args); err != nil {
		return err
	}
	cfg, err := loadConfig(*cfgPath)
	if err != nil {
		return err
	}
	at, err := parseAt("reconcile", *atFlag, cfg.Timezone)
	if err != nil {
		return err
	}
	look := *atFlag != ""
	if look && *email && *outFlag == "" {
		return usageErrorf("reconcile: --at --email mails the look's workbook: say where to write it with --out FILE").
			hint("flabsync reconcile --at '2026-11-25 02:00' --out look.xlsx --email")
	}
	if *email && (cfg.Mail.SMTPURL == "" || len(cfg.Mail.To) == 0) {
		return &configError{err: fmt.Errorf("--email needs mail.smtp_url, mail.from and mail.to")}
	}
	db, err := openStore(ctx, cfg)
	if err != nil {
		return err
	}
	defer db.Close()
	var r *nightly.Outcome
	run := func(ctx context.Context) (string, error) {
		var err error
		if r, err = nightly.Run(ctx, cfg, db, at, nightly.Options{Email: *email, Logger: m.logger(cfg), Look: look, Workbook: *outFlag}); err != nil {
			return "", err
		}
		s := fmt.Sprintf("by hand: %d new, %d open, %d resolved; %s", r.Result.New, r.Result.Open, r.Result.Resolved, r.Workbook)
		if r.MailErr != nil {
			return s, fmt.Errorf("email not sent (%v): %w", r.MailErr, schedules.ErrPartial)
		}
		return s, nil
	}
	if !look {
		// A run as of now is the nightly run done by hand (after a failed
		// one, say): under its lease and recorded like it, so status and
		// the reconcile alert see it. A look at another time stores
		// nothing: no lease, no job run.
		_, err = runJob(ctx, m, db, schedules.JobReconcile, run)
	} else {
		_, err = run(ctx)
	}
	if r == nil {
		return err
	}
	if *asJSON {
		if err := r.WriteJSON(ctx, m.Stdout, db); err != nil {
			return err
		}
	} else {
		fmt.Fprint(m.Stdout, r.Digest.Text())
		switch {
		case r.Workbook != "":
			fmt.Fprintf(m.Stdout, "\nworkbook: %s\n", r.Workbook)
		case look:
			fmt.Fprintf(m.Stdout, "\na look as of %s: nothing stored, no workbook (--out FILE writes one)\n", at.Format(time.RFC3339))
		}
		for _, p := range r.Rejects {
			fmt.Fprintf(m.Stdout, "reject file: %s\n", p)
		}
		if r.Mailed {
			fmt.Fprintf(m.Stdout, "mailed to %v\n", cfg.Mail.To)
		}
	}
	if r.MailErr != nil {
		return &partialError{msg: fmt.Sprintf("reconcile: the email was not sent: %v (the workbook is at %s)", r.MailErr, r.Workbook)}
	}
	return nil
}

// parseAt reads an --at flag: RFC 3339, or "2006-01-02 15:04" in the
// config's timezone; empty is now.
func parseAt(cmd, flag, timezone string) (time.Time, error) {
	if flag == "" {
		return time.Now(), nil
	}
	loc, err := time.LoadLocation(timezone)
	if err != nil {
		return time.Time{}, &configError{err: err}
	}
	if at, err := time.Parse(time.RFC3339, flag); err == nil {
		return at, nil
	}
	if at, err := time.ParseInLocation("2006-01-02 15:04", flag, loc); err == nil {
		return at, nil
	}
	return time.Time{}, usageErrorf(`%s: --at %q: want RFC 3339 (2026-11-25T02:00:00+05:30) or "2006-01-02 15:04"`, cmd, flag)
}
