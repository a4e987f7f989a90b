package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"mime/multipart"
	"net"
	"net/http"
	"net/mail"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/xuri/excelize/v2"

	"github.com/flabsync/flabsync/fixtures"
	"github.com/flabsync/flabsync/internal/config"
	"github.com/flabsync/flabsync/internal/flabs"
	"github.com/flabsync/flabsync/internal/flabs/flabstest"
	"github.com/flabsync/flabsync/internal/store"
	"github.com/flabsync/flabsync/reconcile"
	"github.com/flabsync/flabsync/reconcile/rules"
	"github.com/flabsync/flabsync/reconcile/webhook"
)

// sink is a real SMTP server on loopback keeping what it receives.
type sink struct {
	mu   sync.Mutex
	msgs [][]byte
}

func (s *sink) NewSession(*smtp.Conn) (smtp.Session, error) { return &sinkSession{s: s}, nil }

type sinkSession struct {
	s   *sink
	buf bytes.Buffer
}

func (ss *sinkSession) Mail(string, *smtp.MailOptions) error { return nil }
func (ss *sinkSession) Rcpt(string, *smtp.RcptOptions) error { return nil }
func (ss *sinkSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	ss.s.mu.Lock()
	ss.s.msgs = append(ss.s.msgs, b)
	ss.s.mu.Unlock()
	return err
}
func (ss *sinkSession) Reset()        {}
func (ss *sinkSession) Logout() error { return nil }

func startSink(t *testing.T) (*sink, string) {
	s := &sink{}
	srv := smtp.NewServer(s)
	srv.Domain = "localhost"
	srv.AllowInsecureAuth = true
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return s, l.Addr().String()
}

// TestReconcileEveryCategoryThroughTheSimulator: bookings go to the
// simulator, its webhooks (some never sent, some deleted, stalled, short
// of a report) reach a real receiver, a few problems are made by hand
// (an orphan, a second bill, a missing drop); `flabsync reconcile --email`
// then finds every category, writes a workbook that opens back with
// every sheet, and mails a digest whose numbers match it.
func TestReconcileEveryCategoryThroughTheSimulator(t *testing.T) {
	t.Parallel() // it waits on child processes, mostly: it runs beside the others
	if testing.Short() {
		t.Skip("runs flabsync as a child process")
	}
	ctx := context.Background()
	dir := t.TempDir()
	dbPath := filepath.Join(dir, "flabsync.db")
	db, err := store.Open(ctx, "sqlite:"+dbPath)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	recv := webhook.New(db, config.Webhook{Path: "/hooks"}, slog.New(slog.DiscardHandler))
	defer recv.Close()
	hl, _ := net.Listen("tcp", "127.0.0.1:0")
	hookCtx, stopHooks := context.WithCancel(ctx)
	defer stopHooks()
	go recv.Serve(hookCtx, hl)

	c, _ := fixtures.LoadCatalogue()
	start := time.Now()
	sim := flabstest.NewTestServer(t, flabstest.Options{Labs: []flabs.Lab{c.Lab}, Tests: c.Tests, Packages: c.Packages,
		LeadSources: []string{"sheet"}, Seed: 42,
		Webhooks: flabstest.WebhookOptions{Manual: true, Start: start, URL: "http://" + hl.Addr().String() + "/hooks",
			NoBillRate: 0.1, DeleteRate: 0.1, StallRate: 0.1, MissingReportRate: 0.15, DropRate: 0.05}})
	smtpSink, smtpAddr := startSink(t)
	cfg := fmt.Sprintf(`database: sqlite:%s
flabs: {base_url: %s, client_id: demo, client_secret: demo, rate_per_second: 200, burst: 20}
default_lead_source: sheet
partners: {refused: {lead_source: not-allowed}, sunrise: {expect_by: "00:00"}}
report: {dir: %s}
mail: {smtp_url: "smtp://%s?starttls=none", from: flabsync@lab.example, to: [ops@lab.example]}
log: {level: warn}
`, dbPath, sim.URL(), filepath.Join(dir, "reports"), smtpAddr)
	os.WriteFile(filepath.Join(dir, "flabsync.yaml"), []byte(cfg), 0o644)
	if out, err := child(t, dir, "mapping", "sync").CombinedOutput(); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	var b strings.Builder
	b.WriteString("Booking ID,Patient Name,Age,Gender,Tests\n")
	for i := range 60 {
		fmt.Fprintf(&b, "R%02d,Patient %d,%d,F,CBC; Lipid Profile; Thyroxine (T4)\n", i, i, 20+i)
	}
	b.WriteString("R98,,30,F,CBC\n")              // rejected_row
	b.WriteString("R99,Patient 99,40,M,Trop T\n") // unmapped_test
	os.WriteFile(filepath.Join(dir, "clinic_2026.csv"), []byte(b.String()), 0o644)
	os.WriteFile(filepath.Join(dir, "refused_2026.csv"), []byte("Patient Name,Age,Gender,Tests\nAsha,30,F,CBC\n"), 0o644) // submit_failed
	os.WriteFile(filepath.Join(dir, "broken_2026.csv"), []byte("just,some,words\nno,header,here\n"), 0o644)               // file_refused
	for _, f := range []string{"clinic_2026.csv", "refused_2026.csv", "broken_2026.csv"} {
		child(t, dir, "import", "--no-progress", filepath.Join(dir, f)).Run()
	}
	// Three days of Flabs' timeline, delivered to the receiver.
	sim.Advance(ctx, 72*time.Hour)
	post := func(body string) {
		t.Helper()
		resp, err := http.Post("http://"+hl.Addr().String()+"/hooks", "application/json", strings.NewReader(body))
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("post %s: %v %v", body, resp.StatusCode, err)
		}
		resp.Body.Close()
	}
	ev := func(typ, iid, bill string) string {
		return fmt.Sprintf(`{"labID":%q,"eventType":%q,"eventTime":%d,"data":{"integratorID":%q,"billID":%q}}`, c.Lab.ID, typ, start.Unix(), iid, bill)
	}
	post(ev("bill.created", "walk-in-77", "bill-walkin"))         // orphan_event
	post(ev("bill.created", "clinic:R00", "bill-second-for-R00")) // duplicate_bill (R00 got its own bill too, unless it had none)
	post(ev("bill.created", "clinic:R01", "bill-second-for-R01"))
	if _, err := rules.CheckDrops(ctx, db, map[string]string{"sunrise": "00:00"}, time.Now(), time.Local); err != nil { // missing_drop
		t.Fatal(err)
	}
	// not_sent: an import whose credentials Flabs refused leaves its
	// booking pending.
	bad := strings.Replace(cfg, "client_secret: demo", "client_secret: wrong", 1)
	os.WriteFile(filepath.Join(dir, "bad.yaml"), []byte(bad), 0o644)
	os.WriteFile(filepath.Join(dir, "stuck_2026.csv"), []byte("Booking ID,Patient Name,Age,Gender,Tests\nS1,Ravi,40,M,CBC\n"), 0o644)
	child(t, dir, "import", "--no-progress", "--config", filepath.Join(dir, "bad.yaml"), filepath.Join(dir, "stuck_2026.csv")).Run()
	// unconfirmed: booked, then the process died with the request on its
	// way (as kill -9 leaves it: in flight); the resend is refused as
	// already there, and no bill event has come for it yet.
	os.WriteFile(filepath.Join(dir, "hung_2026.csv"), []byte("Booking ID,Patient Name,Age,Gender,Tests\nH1,Meera,50,F,CBC\n"), 0o644)
	child(t, dir, "import", "--no-progress", filepath.Join(dir, "hung_2026.csv")).Run()
	if _, err := db.Exec(`UPDATE bookings SET status = 'in_flight' WHERE integrator_id = 'hung:H1'`); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "hung_2026-b.csv"), []byte("Booking ID,Patient Name,Age,Gender,Tests\nH1,Meera,50,F,CBC\n"), 0o644)
	child(t, dir, "import", "--no-progress", filepath.Join(dir, "hung_2026-b.csv")).Run()

	at := start.Add(80 * time.Hour).UTC().Format(time.RFC3339)
	out, err := child(t, dir, "reconcile", "--at", at, "--out", filepath.Join(dir, "look.xlsx"), "--email", "--json").Output()
	if err != nil {
		t.Fatalf("reconcile: %v\n%s", err, out)
	}
	var rep struct {
		Workbook   string         `json:"workbook"`
		Summary    map[string]int `json:"summary"`
		Exceptions []struct {
			ID, Category, Status, Partner string
			Row                           int
			AgeBucket                     string `json:"age_bucket"`
		} `json:"exceptions"`
	}
	if err := json.Unmarshal(out, &rep); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	for _, cat := range reconcile.Categories {
		if rep.Summary[string(cat)] == 0 {
			t.Errorf("no %s exception; summary %v", cat, rep.Summary)
		}
	}
	if len(rep.Exceptions) != sum(rep.Summary) {
		t.Errorf("%d exceptions listed, summary says %d", len(rep.Exceptions), sum(rep.Summary))
	}

	// The workbook opens, with a sheet per category holding its rows.
	wb := rep.Workbook // absolute: report.dir is
	f, err := excelize.OpenFile(wb)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sheets := f.GetSheetList()
	if sheets[0] != "Summary" || sheets[len(sheets)-1] != "Unmapped" {
		t.Errorf("sheets %v: want Summary first, Unmapped last", sheets)
	}
	dataRows := 0
	for _, s := range sheets[1 : len(sheets)-1] {
		rows, _ := f.GetRows(s)
		dataRows += len(rows) - 1
	}
	if dataRows != sum(rep.Summary) {
		t.Errorf("category sheets hold %d rows, summary %d", dataRows, sum(rep.Summary))
	}
	// The first run, three days after the files came, checks every file
	// received since (not only the last day's).
	summaryRows, _ := f.GetRows("Summary")
	var summaryText strings.Builder
	for _, r := range summaryRows {
		summaryText.WriteString(strings.Join(r, "|") + "\n")
	}
	for _, name := range []string{"stuck_2026.csv", "hung_2026.csv", "hung_2026-b.csv"} {
		if !strings.Contains(summaryText.String(), name) {
			t.Errorf("the Summary's file table lacks %s:\n%s", name, summaryText.String())
		}
	}
	unmapped, _ := f.GetRows("Unmapped")
	if len(unmapped) < 2 || !strings.Contains(strings.Join(unmapped[1], "|"), "Trop T") {
		t.Errorf("Unmapped sheet: %v", unmapped)
	}

	// The email arrived with the workbook attached and the same numbers.
	smtpSink.mu.Lock()
	msgs := smtpSink.msgs
	smtpSink.mu.Unlock()
	if len(msgs) != 1 {
		t.Fatalf("%d messages arrived, want 1", len(msgs))
	}
	msg, err := mail.ReadMessage(bytes.NewReader(msgs[0]))
	if err != nil {
		t.Fatal(err)
	}
	text, attached := walkMIME(t, msg.Header.Get("Content-Type"), msg.Body)
	if attached == nil {
		t.Fatal("no attachment")
	}
	af, err := excelize.OpenReader(bytes.NewReader(attached))
	if err != nil {
		t.Fatalf("the attachment does not open: %v", err)
	}
	af.Close()
	want := fmt.Sprintf("Open exceptions: %d", sum(rep.Summary))
	if !strings.Contains(text, want) {
		t.Errorf("digest lacks %q:\n%s", want, text)
	}
}

func sum(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

// walkMIME returns the text/plain part and the first attachment.
func walkMIME(t *testing.T, ctype string, body io.Reader) (string, []byte) {
	t.Helper()
	mt, params, err := mime.ParseMediaType(ctype)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(mt, "multipart/") {
		b, _ := io.ReadAll(body)
		return string(b), nil
	}
	var text string
	var att []byte
	mr := multipart.NewReader(body, params["boundary"])
	for {
		p, err := mr.NextPart()
		if err != nil {
			break
		}
		pt := p.Header.Get("Content-Type")
		var r io.Reader = p
		if strings.EqualFold(p.Header.Get("Content-Transfer-Encoding"), "base64") {
			r = base64.NewDecoder(base64.StdEncoding, p)
		}
		switch {
		case strings.HasPrefix(pt, "multipart/"):
			tx, a := walkMIME(t, pt, r)
			if text == "" {
				text = tx
			}
			if att == nil {
				att = a
			}
		case p.FileName() != "":
			att, _ = io.ReadAll(r)
		case strings.HasPrefix(pt, "text/plain"):
			b, _ := io.ReadAll(r)
			text = string(b)
		}
	}
	return text, att
}

// TestReconcileOutOnAFreshInstall: a run as of now with --out writes the
// workbook where --out says and the partners' reject files in report.dir,
// which it makes (it failed when the folder did not exist yet).
func TestReconcileOutOnAFreshInstall(t *testing.T) {
	files := seedExceptions(t)
	out := filepath.Join(t.TempDir(), "mine.xlsx")
	if code, stdout, stderr := run(t, files, "reconcile", "--out", out); code != ExitOK {
		t.Fatalf("exit %d\n%s%s", code, stdout, stderr)
	}
	if _, err := os.Stat(out); err != nil {
		t.Errorf("no workbook at --out: %v", err)
	}
	var dir string
	fmt.Sscanf(strings.SplitN(files["flabsync.yaml"], "report: {dir: ", 2)[1], "%s", &dir)
	dir = strings.TrimSuffix(dir, "}")
	if m, _ := filepath.Glob(filepath.Join(dir, "p_rejects_*.csv")); len(m) != 1 {
		t.Errorf("reject files in %s: %v, want p's", dir, m)
	}
}
