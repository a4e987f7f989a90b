package nightly_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/xuri/excelize/v2"

	"github.com/flabsync/flabsync/fixtures"
	"github.com/flabsync/flabsync/internal/config"
	"github.com/flabsync/flabsync/internal/flabs"
	"github.com/flabsync/flabsync/internal/flabs/flabstest"
	"github.com/flabsync/flabsync/internal/mail/mailtest"
	"github.com/flabsync/flabsync/internal/store"
	"github.com/flabsync/flabsync/mapping"
	"github.com/flabsync/flabsync/pipeline/ledger"
	"github.com/flabsync/flabsync/reconcile"
	"github.com/flabsync/flabsync/reconcile/nightly"
	"github.com/flabsync/flabsync/reconcile/rules"
	"github.com/flabsync/flabsync/reconcile/webhook"
	"github.com/flabsync/flabsync/schedules"
)

// syncBuffer is a bytes.Buffer safe for concurrent writers (the logs).
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// answersRig is one lab: a ledger on a SQLite file, the simulator, the
// webhook receiver on loopback, SMTP for the receipts, and every log
// line at debug level in logs.
type answersRig struct {
	dir  string
	cfg  config.Config
	db   *store.DB
	sim  *flabstest.Server
	cl   *flabs.Client
	recv *webhook.Receiver
	smtp *mailtest.Server
	logs *syncBuffer
	log  *slog.Logger
}

func newAnswersRig(t *testing.T, o flabstest.Options) *answersRig {
	t.Helper()
	ctx := context.Background()
	r := &answersRig{dir: t.TempDir(), logs: &syncBuffer{}}
	r.log = slog.New(slog.NewTextHandler(r.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	db, err := store.Open(ctx, "sqlite:"+filepath.Join(r.dir, "flabsync.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	r.db = db
	r.smtp = mailtest.Start(t, mailtest.Options{})

	cfg := config.Default()
	cfg.Database = "sqlite:" + filepath.Join(r.dir, "flabsync.db")
	cfg.Timezone = "UTC"
	cfg.DefaultLeadSource = "sheet"
	cfg.Report.Dir = filepath.Join(r.dir, "reports")
	cfg.Reconcile.BillCreatedWithin = 6 * time.Hour
	cfg.Webhook.AuthToken = "answers-webhook-token-0123456789"
	cfg.Flabs.Timeout = 300 * time.Millisecond
	cfg.Flabs.Concurrency = 2
	cfg.Flabs.MaxAttempts = 4
	cfg.Mail.SMTPURL = fmt.Sprintf("smtp://127.0.0.1:%d?starttls=none", r.smtp.Port)
	cfg.Mail.From, cfg.Mail.To = "lab@lab.example", config.StringList{"ops@lab.example"}
	cfg.Partners = map[string]config.Partner{
		"sunrise": {Email: config.StringList{"desk@sunrise.example"}},
		"lapsed":  {Email: config.StringList{"desk@lapsed.example"}, LeadSource: "lapsed"},
	}
	r.cfg = cfg

	r.recv = webhook.NewWithOptions(db, cfg.Webhook, r.log.With("component", "webhook"), webhook.Options{})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	sctx, stop := context.WithCancel(ctx)
	served := make(chan error, 1)
	go func() { served <- r.recv.Serve(sctx, ln) }()
	t.Cleanup(func() { stop(); <-served; r.recv.Close() })

	cat, err := fixtures.LoadCatalogue()
	if err != nil {
		t.Fatal(err)
	}
	o.Labs, o.Tests, o.Packages = []flabs.Lab{cat.Lab}, cat.Tests, cat.Packages
	o.Webhooks.Manual, o.Webhooks.URL, o.Webhooks.AuthToken = true, "http://"+ln.Addr().String()+cfg.Webhook.Path, cfg.Webhook.AuthToken
	r.sim = flabstest.NewTestServer(t, o)
	r.cfg.Flabs.BaseURL, r.cfg.Flabs.ClientID, r.cfg.Flabs.ClientSecret = r.sim.URL(), flabstest.DefaultClientID, flabstest.DefaultClientSecret
	r.cl, err = flabs.FromConfig(r.cfg.Flabs, r.log.With("component", "flabs"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := mapping.NewStore(db).Sync(ctx, r.cl, "", time.Now()); err != nil {
		t.Fatal(err)
	}
	return r
}

// importFiles runs `flabsync import` on sheets written to dir.
func (r *answersRig) importFiles(t *testing.T, sheets map[string]string) {
	t.Helper()
	var paths []string
	for name, body := range sheets {
		p := filepath.Join(r.dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, p)
	}
	run := &schedules.Import{Config: &r.cfg, DB: r.db, Client: r.cl, Holder: "import:1", Logger: r.log}
	res, err := run.Run(context.Background(), paths)
	if err != nil {
		t.Fatal(err)
	}
	if res.Auth != nil {
		t.Fatal(res.Auth)
	}
}

// exceptions returns every exception as of at, open or not, by ID.
func (r *answersRig) exceptions(t *testing.T, at time.Time) map[string]reconcile.Exception {
	t.Helper()
	out := map[string]reconcile.Exception{}
	if err := rules.Each(context.Background(), r.db, at, func(e reconcile.Exception) error {
		out[e.ID] = e
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

// receipt returns the receipt mailed to addr (text and attachment).
func (r *answersRig) receipt(t *testing.T, addr string) mailtest.Parts {
	t.Helper()
	for _, m := range r.smtp.Messages() {
		for _, to := range m.To {
			if to == addr {
				return mailtest.Parse(t, m.Data)
			}
		}
	}
	t.Fatalf("no receipt to %s among %d emails", addr, len(r.smtp.Messages()))
	return mailtest.Parts{}
}

// The reproduced scenario, end to end through import, the simulator, the
// clinic's receipt, the webhook receiver and the nightly run: a booking
// Flabs booked although its answer timed out is resent, and Flabs answers
// 200 {"success": false, "message": "Something went wrong …"}. It is
// unconfirmed (not rejected), the clinic's receipt does not call it
// refused, and once bill.created arrives it is submitted with no
// submit_failed (nor unconfirmed) exception telling anyone to send it
// again.
//
// It is also the canary for Flabs' words: the simulator echoes each
// patient's name into its refusals (the resend's, and a 403 of another
// clinic's booking on its first attempt); no name reaches the ledger's
// last errors, an exception's detail, a log line at debug level, a
// receipt, the workbook or the digest.
func TestVagueRefusalAfterTimeoutEndToEnd(t *testing.T) {
	ctx := context.Background()
	r := newAnswersRig(t, flabstest.Options{Duplicate: flabstest.DuplicateOKFalse, EchoPatient: true,
		ForbiddenLeadSources: []string{"lapsed"}, FaultScript: map[string]string{"sunrise:SR-1#1": "timeout"}})
	names := []string{"Quargleworth", "Brindlequist", "Fizzlethorpe"}
	const header = "Booking ID,Patient Name,Age,Gender,Tests\n"
	r.importFiles(t, map[string]string{
		"sunrise_2026-12-06.csv": header + "SR-1,Zebedee Quargleworth,30,M,CBC\nSR-2,Ottoline Brindlequist,41,F,CBC\n",
		"lapsed_2026-12-06.csv":  header + "LP-1,Wilhelmina Fizzlethorpe,52,F,CBC\n",
	})

	led := ledger.New(r.db)
	ids := []string{"sunrise:SR-1", "sunrise:SR-2", "lapsed:LP-1"}
	st, err := led.States(ctx, ids)
	if err != nil {
		t.Fatal(err)
	}
	if got := st["sunrise:SR-1"]; got.Status != ledger.Unconfirmed || got.Attempts != 2 || got.HTTPStatus != 200 {
		t.Fatalf("SR-1 after a timeout and a vague success:false: %+v; want unconfirmed after 2 attempts", got)
	}
	if st["sunrise:SR-2"].Status != ledger.Submitted || st["lapsed:LP-1"].Status != ledger.Rejected || st["lapsed:LP-1"].HTTPStatus != 403 {
		t.Fatalf("SR-2 %+v, LP-1 %+v; want submitted and rejected 403", st["sunrise:SR-2"], st["lapsed:LP-1"])
	}
	if n := len(r.sim.BookingsFor("sunrise:SR-1")); n != 1 {
		t.Fatalf("SR-1 booked %d times at Flabs, want once", n)
	}
	if got := r.sim.Requests(); !strings.Contains(fmt.Sprint(got), "Quargleworth") {
		t.Fatalf("the simulator did not echo the patient into its refusal: %+v", got)
	}

	// The clinics' receipts.
	sun := r.receipt(t, "desk@sunrise.example")
	if s := strings.ToLower(sun.Text + string(sun.Attachment)); strings.Contains(s, "refused by the lab system") {
		t.Errorf("sunrise's receipt calls a booking that may be made refused:\n%s\n%s", sun.Text, sun.Attachment)
	}
	if !strings.Contains(sun.Text, "Still with the lab:") {
		t.Errorf("sunrise's receipt does not say one booking is still with the lab:\n%s", sun.Text)
	}
	lap := r.receipt(t, "desk@lapsed.example")
	if !strings.Contains(string(lap.Attachment), "refused by the lab system") || !strings.Contains(string(lap.Attachment), "403") {
		t.Errorf("the refused booking's row, with its status, is not in lapsed's receipt:\n%s", lap.Attachment)
	}

	// bill.created arrives for what Flabs booked; the night settles it.
	if n := r.sim.Advance(ctx, 3*time.Minute); n == 0 {
		t.Fatal("no webhook delivered")
	}
	out, err := nightly.Run(ctx, &r.cfg, r.db, time.Now(), nightly.Options{Logger: r.log})
	if err != nil {
		t.Fatal(err)
	}
	st, _ = led.States(ctx, ids)
	if st["sunrise:SR-1"].Status != ledger.Submitted {
		t.Errorf("SR-1 after its bill.created: %+v; want submitted", st["sunrise:SR-1"])
	}
	later := time.Now().Add(12 * time.Hour) // past the bill window too
	if _, err := rules.Run(ctx, r.db, nightly.RulesConfig(&r.cfg), mapping.NewIndex(nil, nil), later); err != nil {
		t.Fatal(err)
	}
	ex := r.exceptions(t, later)
	for _, id := range []string{"submit_failed:sunrise:SR-1", "unconfirmed:sunrise:SR-1"} {
		if e, ok := ex[id]; ok && e.Open() {
			t.Errorf("%s open after the bill arrived: %s / %s", id, e.Detail, e.SuggestedAction)
		}
	}
	refused, ok := ex["submit_failed:lapsed:LP-1"]
	if !ok || !refused.Open() || !strings.Contains(refused.Detail, "403") {
		t.Errorf("the 403's exception: %+v; want open, with the status", refused)
	}

	// The canary: no name anywhere Flabs' words could have gone.
	var lastErrors []string
	if err := r.db.SelectContext(ctx, &lastErrors, `SELECT last_error FROM bookings`); err != nil {
		t.Fatal(err)
	}
	places := map[string]string{
		"bookings.last_error": strings.Join(lastErrors, "\n"),
		"logs":                r.logs.String(),
		"sunrise receipt":     sun.Subject + sun.Text + string(sun.Attachment),
		"lapsed receipt":      lap.Subject + lap.Text + string(lap.Attachment),
		"workbook":            workbookText(t, out.Workbook),
		"digest":              out.Digest.Text() + out.Digest.HTML(),
	}
	for _, e := range ex {
		places["exception "+e.ID] = e.Detail + " " + e.SuggestedAction
	}
	for where, text := range places {
		for _, name := range names {
			if strings.Contains(text, name) {
				t.Errorf("%s holds the patient name %s from Flabs' refusal:\n%s", where, name, text)
			}
		}
	}
}

// A bill event for a booking the answers left rejected proves Flabs booked
// it: the next night it is submitted and its submit_failed exception —
// which told ops to correct the row and send it again — resolves.
func TestBillEventResolvesSubmitFailed(t *testing.T) {
	ctx := context.Background()
	r := newAnswersRig(t, flabstest.Options{})
	led := ledger.New(r.db)
	fid, _, err := led.StartFile(ctx, ledger.File{Partner: "sunrise", Name: "sunrise_2026-12-06.csv", SHA256: "bill"})
	if err != nil {
		t.Fatal(err)
	}
	const id = "sunrise:SR-9"
	if _, err := led.Admit(ctx, fid, []ledger.Booking{{IntegratorID: id, Partner: "sunrise", FirstRow: 2, Rows: []int{2},
		Request: &flabs.BillingRequest{IntegratorID: id}}}, []ledger.Row{{Num: 2, Status: ledger.RowAccepted, IntegratorID: id}}); err != nil {
		t.Fatal(err)
	}
	led.Sending(ctx, id, "t")
	if err := led.Settle(ctx, ledger.Result{IntegratorID: id, State: ledger.Rejected, HTTPStatus: 400, Error: "flabs billing create: 400 Bad Request (permanent)"}); err != nil {
		t.Fatal(err)
	}
	if _, err := led.FinishFile(ctx, fid, 1); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	if _, err := nightly.Run(ctx, &r.cfg, r.db, now, nightly.Options{}); err != nil {
		t.Fatal(err)
	}
	if e := r.exceptions(t, now)["submit_failed:"+id]; !e.Open() {
		t.Fatalf("submit_failed:%s before the bill: %+v; want open", id, e)
	}
	body := fmt.Sprintf(`{"labID":"6530a4a6f1d2c8b7e9a12345","eventType":"bill.created","eventTime":%d,"data":{"billID":"bill-9","integratorID":%q,"billData":{"status":"created","testData":[]}}}`,
		now.Unix(), id)
	if res, err := r.recv.Ingest(ctx, []byte(body), "test"); err != nil || res.Status != webhook.StatusStored {
		t.Fatalf("bill.created: %+v, %v", res, err)
	}
	next := now.Add(time.Minute)
	if _, err := nightly.Run(ctx, &r.cfg, r.db, next, nightly.Options{}); err != nil {
		t.Fatal(err)
	}
	if e := r.exceptions(t, next)["submit_failed:"+id]; e.Open() {
		t.Errorf("submit_failed:%s after bill.created: %s, %q; want resolved, not advising to send it again", id, e.Status, e.SuggestedAction)
	}
	st, _ := led.States(ctx, []string{id})
	if st[id].Status != ledger.Submitted {
		t.Errorf("%s after bill.created: %+v; want submitted", id, st[id])
	}
	f, err := led.FileByID(ctx, fid)
	if err != nil || f.Counts.Submitted != 1 || f.Counts.RejectedFlabs != 0 || !f.Counts.Balanced() {
		t.Errorf("the file's account: %+v, %v; want the row submitted", f.Counts, err)
	}
}

// workbookText reads every cell of every sheet of the workbook at path.
func workbookText(t *testing.T, path string) string {
	t.Helper()
	f, err := excelize.OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var b strings.Builder
	for _, sh := range f.GetSheetList() {
		rows, err := f.GetRows(sh)
		if err != nil {
			t.Fatal(err)
		}
		for _, row := range rows {
			b.WriteString(strings.Join(row, "\t"))
			b.WriteString("\n")
		}
	}
	return b.String()
}
