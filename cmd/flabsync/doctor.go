package main

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/flabsync/flabsync/internal/config"
	"github.com/flabsync/flabsync/internal/doctor"
)

func runDoctor(ctx context.Context, m *Main, args []string) error {
	fs := m.newFlagSet("doctor", "doctor [--config FILE] [--json] [--send-test-mail] [--public-url URL]",
		"Checks, before the first night, that the setup works, one line per check: config, database\n"+
			"(reachable, migrated, private), flabs (login, token refresh, labs, tests, packages), mail\n"+
			"(connect, STARTTLS, AUTH), inbox (folders writable, one file system, free space) and webhook\n"+
			"(webhook.listen free or served by flabsync). --public-url posts a test event to the URL Flabs\n"+
			"calls and checks it arrives; --send-test-mail mails mail.to. Each line is ok, warn or FAIL\n"+
			"with what to do; no secret is printed. Exit 0 when none fails (warnings do not), 1 when one\n"+
			"does, 2 for bad usage or a config that does not load.")
	cfgPath := fs.String("config", "", "config file (default $FLABSYNC_CONFIG, else ./flabsync.yaml)")
	asJSON := fs.Bool("json", false, `print {"checks": [{"name", "ok", "warning", "detail"}]}`)
	sendMail := fs.Bool("send-test-mail", false, "send one short test message to mail.to")
	publicURL := fs.String("public-url", "", "the URL Flabs posts webhooks to (https://host/webhooks/flabs): post a test event there")
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageErrorf("doctor: unexpected argument %q", fs.Arg(0)).hint("flabsync doctor [--config FILE] [--json] [--send-test-mail] [--public-url URL]")
	}
	if *publicURL != "" {
		if _, err := doctor.PublicURL(*publicURL, "/"); err != nil {
			return usageErrorf("doctor: --public-url: %v", err).hint("flabsync doctor --public-url https://sync.lab.example/webhooks/flabs")
		}
	}
	path, explicit := config.Path(*cfgPath)
	cfg, err := loadConfig(*cfgPath)
	if err != nil {
		var ce *configError
		if *asJSON && errors.As(err, &ce) {
			// Scripts reading --json get JSON whatever happens.
			_ = writeJSON(m.Stdout, doctor.Report{Checks: []doctor.Check{{Name: doctor.NameConfig, Detail: ce.Error()}}})
		}
		return err
	}
	if _, statErr := os.Stat(path); !explicit && statErr != nil {
		path = "" // built-in defaults
	}
	checks := doctor.Run(ctx, cfg, doctor.Options{ConfigPath: path, SendTestMail: *sendMail, PublicURL: *publicURL})
	if *asJSON {
		if err := writeJSON(m.Stdout, doctor.Report{Checks: checks}); err != nil {
			return err
		}
	} else {
		for _, c := range checks {
			fmt.Fprintf(m.Stdout, "%-4s  %-8s  %s\n", verdict(c), c.Name, c.Detail)
		}
	}
	if n := doctor.Failed(checks); n > 0 {
		return &partialError{msg: fmt.Sprintf("doctor: %d of %d checks failed", n, len(checks))}
	}
	return nil
}

// verdict is a check's first column: ok, warn or FAIL.
func verdict(c doctor.Check) string {
	switch {
	case !c.OK:
		return "FAIL"
	case c.Warning:
		return "warn"
	}
	return "ok"
}
