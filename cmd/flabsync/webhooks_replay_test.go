package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/flabsync/flabsync/internal/store"
)

// Replaying the sample bodies stores each event once; replaying them
// again stores nothing and says so; a file of JSON lines with a broken
// line stores the good ones and names the bad one with its reason (exit 1).
func TestWebhooksReplay(t *testing.T) {
	dir := t.TempDir()
	cfg := "database: sqlite:" + filepath.Join(dir, "flabsync.db") + "\nlog:\n  level: warn\n"
	fixtures, err := filepath.Abs(filepath.Join("..", "..", "fixtures", "webhooks"))
	if err != nil {
		t.Fatal(err)
	}
	lines := `{"eventType":"bill.created","eventTime":1795939200,"data":{"billID":"b-77","integratorID":"metro:MT-77"}}

{"eventType":"bill.created","eventTime":"yesterday","data":{"billID":"b-78"}}
`
	jsonl := filepath.Join(dir, "captured.jsonl")
	if err := os.WriteFile(jsonl, []byte(lines), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "flabsync.yaml"), []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		args   []string
		code   int
		stdout []string
	}{
		{[]string{fixtures}, ExitOK, []string{"replayed 6 bodies: 6 stored, 0 already stored, 0 invalid"}},
		{[]string{fixtures}, ExitOK, []string{"replayed 6 bodies: 0 stored, 6 already stored, 0 invalid"}},
		{[]string{jsonl}, ExitPartial, []string{"captured.jsonl:3: not a Flabs event: eventTime must be a number (Unix seconds), got a string",
			"replayed 2 bodies: 1 stored, 0 already stored, 1 invalid"}},
		{[]string{filepath.Join(dir, "gone.json")}, ExitPartial, []string{"gone.json: cannot read"}},
		{nil, ExitUsage, nil},
	}
	for _, tt := range tests {
		code, stdout, stderr := run(t, nil, append([]string{"webhooks", "replay", "--config", filepath.Join(dir, "flabsync.yaml")}, tt.args...)...)
		if code != tt.code {
			t.Errorf("replay %v: exit %d, want %d\n%s%s", tt.args, code, tt.code, stdout, stderr)
		}
		for _, w := range tt.stdout {
			if !strings.Contains(stdout, w) {
				t.Errorf("replay %v: stdout lacks %q:\n%s", tt.args, w, stdout)
			}
		}
	}
	db, err := store.Open(context.Background(), "sqlite:"+filepath.Join(dir, "flabsync.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var events, orphans int
	db.Get(&events, `SELECT COUNT(*) FROM webhook_events`)
	db.Get(&orphans, `SELECT COUNT(*) FROM booking_state WHERE orphan = 1`)
	if events != 7 {
		t.Errorf("%d events stored, want the 6 samples and the good JSON line", events)
	}
	if orphans != 2 { // nothing was ever sent from this database
		t.Errorf("%d orphan bookings, want 2 (sunrise:SR-1001 and metro:MT-77)", orphans)
	}
}
