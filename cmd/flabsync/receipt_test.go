package main

import (
	"bytes"
	"encoding/csv"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/flabsync/flabsync/internal/flabs/flabstest"
	"github.com/flabsync/flabsync/internal/mail/mailtest"
)

// `flabsync import` of a sheet with bad rows sends the clinic one receipt,
// to each of its addresses, with the rejected rows attached; the import's
// own output and exit code are what they always were.
func TestImportSendsReceipt(t *testing.T) {
	if testing.Short() {
		t.Skip("runs flabsync mapping sync as a child process")
	}
	srv := mailtest.Start(t, mailtest.Options{})
	dir, _, _ := sendRig(t, 1, flabstest.Options{})
	cfgPath := filepath.Join(dir, "flabsync.yaml")
	extra := fmt.Sprintf("mail:\n  smtp_url: smtp://127.0.0.1:%d?starttls=none\n  from: lab@lab.example\n  to: ops@lab.example\n"+
		"partners:\n  crashclinic:\n    email: \"desk@crash.example, lab@crash.example\"\n", srv.Port)
	appendFile(t, cfgPath, extra)
	sheet := filepath.Join(dir, "crashclinic_2026-11-26.csv")
	os.WriteFile(sheet, []byte("Booking ID,Patient Name,Age,Gender,Tests\n"+
		"RC-1,Asha Quixotefield,30,F,CBC\n"+
		"RC-2,Ravi Quixotefield,abc,M,CBC\n"+
		"=RC-3,,40,F,CBC\n"), 0o600)

	var stdout, stderr bytes.Buffer
	m := &Main{Stdout: &stdout, Stderr: &stderr, Stdin: strings.NewReader("")}
	if code := m.Run(t.Context(), []string{"import", "--no-progress", "--config", cfgPath, sheet}); code != ExitPartial {
		t.Fatalf("exit %d, want %d (rows rejected)\nstdout: %s\nstderr: %s", code, ExitPartial, stdout.String(), stderr.String())
	}

	msgs := srv.Messages()
	if len(msgs) != 1 {
		t.Fatalf("%d emails, want 1 receipt\nstderr: %s", len(msgs), stderr.String())
	}
	if to := slices.Sorted(slices.Values(msgs[0].To)); !slices.Equal(to, []string{"desk@crash.example", "lab@crash.example"}) {
		t.Errorf("receipt went to %q", to)
	}
	p := mailtest.Parse(t, msgs[0].Data)
	if want := "Receipt for crashclinic_2026-11-26.csv: 1 of 3 rows accepted, 2 to correct"; p.Subject != want {
		t.Errorf("subject %q, want %q", p.Subject, want)
	}
	recs, err := csv.NewReader(bytes.NewReader(bytes.TrimPrefix(p.Attachment, []byte("\uFEFF")))).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 3 || recs[1][0] != "3" || recs[1][1] != "RC-2" || !strings.Contains(recs[1][2], "age") ||
		recs[2][0] != "4" || recs[2][1] != "'=RC-3" || !strings.Contains(recs[2][2], "name") {
		t.Errorf("attached rows = %q, want rows 3 (RC-2, age) and 4 ('=RC-3, name)", recs)
	}
	if strings.Contains(p.Text, "Quixotefield") || bytes.Contains(p.Attachment, []byte("Quixotefield")) {
		t.Errorf("the receipt holds a patient's name:\n%s\n%s", p.Text, p.Attachment)
	}
}

// `flabsync demo` leaves the clinics' receipts in DIR/outbox, with a
// rejected-rows CSV beside one, and says where they are.
func TestDemoWritesReceipts(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the whole demo")
	}
	dir := filepath.Join(t.TempDir(), "demo")
	code, stdout, stderr := run(t, nil, "demo", "--dir", dir)
	if code != ExitOK {
		t.Fatalf("demo exit %d\nstdout: %s\nstderr: %s", code, stdout, stderr)
	}
	receipts, _ := filepath.Glob(filepath.Join(dir, "outbox", "receipt-*.txt"))
	csvs, _ := filepath.Glob(filepath.Join(dir, "outbox", "*_rejected.csv"))
	if len(receipts) == 0 || len(csvs) == 0 {
		t.Fatalf("outbox has %d receipts and %d CSVs, want some of each", len(receipts), len(csvs))
	}
	// Through serve, each file gets one receipt: processed or refused,
	// never both.
	var dropped int
	if i := strings.Index(stdout, "4. inbox"); i >= 0 {
		fmt.Sscanf(strings.TrimSpace(stdout[i+len("4. inbox"):]), "%d", &dropped)
	}
	if len(receipts) != dropped {
		t.Errorf("%d receipts for %d files dropped, want one each", len(receipts), dropped)
	}
	if !strings.Contains(stdout, "receipts the clinics would get") {
		t.Errorf("demo output does not point at the receipts:\n%s", stdout)
	}
	b, err := os.ReadFile(filepath.Join(dir, "outbox", "receipt-lakeview_scan.pdf.txt"))
	if err != nil || !strings.Contains(string(b), "could not be read") {
		t.Errorf("the refused PDF's receipt: %v\n%s", err, b)
	}
}

func appendFile(t *testing.T, path, text string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(text); err != nil {
		t.Fatal(err)
	}
}
