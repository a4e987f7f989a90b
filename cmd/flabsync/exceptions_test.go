package main

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/flabsync/flabsync/internal/flabs"
	"github.com/flabsync/flabsync/internal/store"
	"github.com/flabsync/flabsync/mapping"
	"github.com/flabsync/flabsync/pipeline/ledger"
	"github.com/flabsync/flabsync/reconcile/rules"
)

// TestExceptionsCommand: a person lists the open exceptions, closes one
// with a note (an unknown ID among them changes nothing and exits 2),
// snoozes another, and finds them under their own status.
func TestExceptionsCommand(t *testing.T) {
	dsn := "sqlite:" + filepath.Join(t.TempDir(), "flabsync.db")
	ctx := context.Background()
	db, err := store.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	l := ledger.New(db)
	fid, _, _ := l.StartFile(ctx, ledger.File{Partner: "p", Name: "p.csv", SHA256: "e"})
	var bs []ledger.Booking
	for _, id := range []string{"p:a", "p:b"} {
		bs = append(bs, ledger.Booking{IntegratorID: id, Partner: "p", FirstRow: 2, Rows: []int{2}, Request: &flabs.BillingRequest{IntegratorID: id}})
	}
	l.Admit(ctx, fid, bs, nil)
	for _, id := range []string{"p:a", "p:b"} {
		l.Sending(ctx, id, "t")
		l.Settle(ctx, ledger.Result{IntegratorID: id, State: ledger.Rejected, Error: "400 age"})
	}
	if _, err := rules.Run(ctx, db, rules.Config{BillCreatedWithin: time.Hour, BillCompletedWithin: time.Hour}, mapping.NewIndex(nil, nil), time.Now()); err != nil {
		t.Fatal(err)
	}
	db.Close()
	files := map[string]string{"flabsync.yaml": "database: " + dsn + "\n"}

	list := func(args ...string) []rules.Listed {
		t.Helper()
		code, out, errOut := run(t, files, append([]string{"exceptions", "list", "--json"}, args...)...)
		if code != ExitOK {
			t.Fatalf("list %v: exit %d\n%s", args, code, errOut)
		}
		var l []rules.Listed
		if err := json.Unmarshal([]byte(out), &l); err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		return l
	}
	if got := list(); len(got) != 2 {
		t.Fatalf("%d open, want 2: %+v", len(got), got)
	}
	if code, _, errOut := run(t, files, "exceptions", "close", "--note", "x", "submit_failed:p:a", "nope"); code != ExitUsage || !strings.Contains(errOut, `"nope"`) {
		t.Errorf("close with an unknown ID: exit %d\n%s", code, errOut)
	}
	if got := list("--status", "closed"); len(got) != 0 {
		t.Errorf("an all-or-nothing close closed %d", len(got))
	}
	if code, _, errOut := run(t, files, "exceptions", "close", "submit_failed:p:a"); code != ExitUsage || !strings.Contains(errOut, "--note") {
		t.Errorf("close without a note: exit %d\n%s", code, errOut)
	}
	if code, _, errOut := run(t, files, "exceptions", "close", "--note", "booked by phone", "--by", "asha", "submit_failed:p:a"); code != ExitOK {
		t.Fatalf("close: exit %d\n%s", code, errOut)
	}
	until := time.Now().Add(72 * time.Hour).Format(time.DateOnly)
	if code, _, errOut := run(t, files, "exceptions", "snooze", "--note", "clinic on leave", "--until", until, "submit_failed:p:b"); code != ExitOK {
		t.Fatalf("snooze: exit %d\n%s", code, errOut)
	}
	closed := list("--status", "closed")
	if len(closed) != 1 || closed[0].ID != "submit_failed:p:a" || closed[0].Note != "booked by phone" || closed[0].ClosedBy != "asha" || closed[0].ClosedAt == nil {
		t.Errorf("closed: %+v", closed)
	}
	if s := list("--status", "snoozed"); len(s) != 1 || s[0].SnoozedUntil == nil {
		t.Errorf("snoozed: %+v", s)
	}
	if got := list(); len(got) != 0 {
		t.Errorf("still open: %+v", got)
	}
	if code, _, _ := run(t, files, "exceptions", "reopen", "submit_failed:p:a"); code != ExitOK || len(list()) != 1 {
		t.Errorf("reopen: exit %d", code)
	}
}
