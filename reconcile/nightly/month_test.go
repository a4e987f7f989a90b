package nightly_test

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/xuri/excelize/v2"

	"github.com/flabsync/flabsync/fixtures"
	"github.com/flabsync/flabsync/internal/config"
	"github.com/flabsync/flabsync/internal/flabs"
	"github.com/flabsync/flabsync/internal/flabs/flabstest"
	"github.com/flabsync/flabsync/internal/store"
	"github.com/flabsync/flabsync/mapping"
	"github.com/flabsync/flabsync/pipeline"
	"github.com/flabsync/flabsync/pipeline/ledger"
	"github.com/flabsync/flabsync/pipeline/submit"
	"github.com/flabsync/flabsync/reconcile"
	"github.com/flabsync/flabsync/reconcile/nightly"
	"github.com/flabsync/flabsync/reconcile/report"
	"github.com/flabsync/flabsync/reconcile/rules"
	"github.com/flabsync/flabsync/reconcile/webhook"
)

// clock is the month's time, moved by the test.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time  { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Set(t time.Time) { c.mu.Lock(); c.t = t; c.mu.Unlock() }

// TestThirtyDays runs a month of nights on an injected clock, through
// the simulator and the real webhook receiver: two clinics drop a file
// every morning (sunrise with a bad row every fourth day, corrected the
// next day except every eighth; metro with a broken file on days 5, 15
// and 27, the first two sent again corrected the next day, and nothing
// after 27), Flabs loses a share of its webhooks and
// lab staff make walk-in bills every day, and on day 12 a person closes
// two no-bill items and snoozes one in that night's workbook, saved
// again. On day 30 the open exceptions are exactly what is truly
// unresolved — each lost bill.created but the two closed, the one
// uncorrected rejected row still inside its window, the one refused file
// never sent again (its next days' other files do not replace it) — and the digest's trend shows the last seven
// nights as they were.
func TestThirtyDays(t *testing.T) {
	if testing.Short() {
		t.Skip("a month of nights")
	}
	ctx := context.Background()
	dir := t.TempDir()
	base := time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC)
	clk := &clock{t: base}
	day := func(d, hour int) time.Time {
		return base.Add(time.Duration(d-1)*24*time.Hour + time.Duration(hour)*time.Hour)
	}

	db, err := store.Open(ctx, "sqlite:"+filepath.Join(dir, "flabsync.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()

	cfg := config.Default()
	cfg.Database = "sqlite:" + filepath.Join(dir, "flabsync.db")
	cfg.Timezone = "UTC"
	cfg.DefaultLeadSource = "sheet"
	cfg.Report.Dir = filepath.Join(dir, "reports")
	cfg.Reconcile.BillCreatedWithin = 6 * time.Hour
	cfg.Reconcile.BillCompletedWithin = 60 * 24 * time.Hour // reports come after the month: only bill.created matters
	cfg.Reconcile.RejectsFor = 7 * 24 * time.Hour
	cfg.Webhook.AuthToken = "month-token"

	// The webhook receiver, stamping what arrives with the month's clock.
	recv := webhook.NewWithOptions(db, cfg.Webhook, nil, webhook.Options{Now: clk.Now})
	defer recv.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	sctx, stop := context.WithCancel(ctx)
	served := make(chan error, 1)
	go func() { served <- recv.Serve(sctx, ln) }()
	defer func() { stop(); <-served }()

	cat, err := fixtures.LoadCatalogue()
	if err != nil {
		t.Fatal(err)
	}
	sim := flabstest.NewTestServer(t, flabstest.Options{Labs: []flabs.Lab{cat.Lab}, Tests: cat.Tests, Packages: cat.Packages, Seed: 7,
		Webhooks: flabstest.WebhookOptions{Manual: true, Start: base, URL: "http://" + ln.Addr().String() + cfg.Webhook.Path,
			AuthToken: cfg.Webhook.AuthToken, CreatedAfter: 2 * time.Minute, ReportEvery: 90 * 24 * time.Hour, DropRate: 0.12}})
	advanceTo := func(at time.Time) {
		clk.Set(at)
		if d := at.Sub(sim.SimNow()); d > 0 {
			sim.Advance(ctx, d) // each delivery is answered once it is stored
		}
	}
	client, err := flabs.NewClient(flabs.Config{BaseURL: sim.URL(), ClientID: "demo", ClientSecret: "demo"})
	if err != nil {
		t.Fatal(err)
	}
	ms := mapping.NewStore(db)
	if _, err := ms.Sync(ctx, client, "", base); err != nil {
		t.Fatal(err)
	}
	ix, err := ms.Index(ctx)
	if err != nil {
		t.Fatal(err)
	}
	led := ledger.New(db).WithClock(clk.Now)
	sub := submit.New(client, led, submit.NewLimiter(1000, 100), submit.Options{Concurrency: 4, MaxAttempts: 3, Holder: "month"})
	subCtx, stopSub := context.WithCancel(ctx)
	subDone := make(chan error, 1)
	go func() { subDone <- sub.Run(subCtx) }()
	defer func() { stopSub(); <-subDone }()
	ing := &pipeline.Ingester{Ledger: led, Submitter: sub, Holder: "month"}

	drop := func(name, body string) {
		t.Helper()
		path := filepath.Join(dir, "inbox", name)
		os.MkdirAll(filepath.Dir(path), 0o755)
		if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		opts := pipeline.OptionsFor(&cfg, pipeline.PartnerOf(path), clk.Now())
		opts.Mapper = ix
		ing.Ingest(ctx, path, opts) // a broken file's error is the point: the ledger records it
	}
	const header = "Booking ID,Patient Name,Age,Gender,Tests\n"
	bad := func(d int) bool { return d%4 == 0 }
	corrected := func(d int) bool { return bad(d) && d%8 != 0 }
	metroBroken := map[int]bool{5: true, 15: true, 27: true}

	results := map[int]*nightly.Outcome{}
	walkIns := map[string]time.Time{} // bill ID → when it reached flabsync
	var closedIDs []string
	snoozedID := ""
	for d := 1; d <= 30; d++ {
		advanceTo(day(d, 9))
		var b strings.Builder
		b.WriteString(header)
		for r := 1; r <= 3; r++ {
			fmt.Fprintf(&b, "S%d-%d,Patient %d-%d,%d,F,CBC\n", d, r, d, r, 20+r)
		}
		if bad(d) {
			fmt.Fprintf(&b, "S%d-4,Patient %d-4,,M,CBC\n", d, d) // no age: rejected
		} else {
			fmt.Fprintf(&b, "S%d-4,Patient %d-4,28,M,CBC\n", d, d)
		}
		if corrected(d - 1) {
			fmt.Fprintf(&b, "S%d-4,Patient %d-4,28,M,CBC\n", d-1, d-1) // yesterday's bad row, corrected
		}
		drop(fmt.Sprintf("sunrise_2026-10-%02d.csv", d), b.String())
		switch {
		case metroBroken[d]:
			// Broken, each day's differently (a refused file's ID is its
			// content's: the same bytes again would be the same exception).
			drop(fmt.Sprintf("metro_2026-10-%02d.csv", d), fmt.Sprintf("hello,world\n%d,2\n", d))
		case d < 27:
			drop(fmt.Sprintf("metro_2026-10-%02d.csv", d), header+fmt.Sprintf("M%d-1,Patient M%d,61,M,CBC\n", d, d))
			if metroBroken[d-1] { // yesterday's broken file, sent again corrected
				drop(fmt.Sprintf("metro_2026-10-%02d (1).csv", d-1), header+fmt.Sprintf("M%d-9,Patient M%d,62,F,CBC\n", d-1, d-1))
			}
		}
		for w := 1; w <= 2; w++ { // bills lab staff make at the counter: no integrator ID
			id := fmt.Sprintf("W%d-%d", d, w)
			walkIns[id] = day(d, 23) // delivered as the clock moves to the night
			sim.InjectEvent(flabs.Event{LabID: cat.Lab.ID, EventType: flabs.EventBillCreated, EventTime: clk.Now().Add(time.Hour).Unix(),
				Data: flabs.EventData{BillID: id}})
		}
		advanceTo(day(d, 23))
		out, err := nightly.Run(ctx, &cfg, db, clk.Now(), nightly.Options{})
		if err != nil {
			t.Fatalf("day %d: %v", d, err)
		}
		results[d] = out

		if d == 12 { // a person works through tonight's workbook
			closedIDs, snoozedID = decide(t, out.Workbook, db, clk.Now())
		}
	}

	// What is truly unresolved on day 30.
	lost := map[string]bool{}
	lostWalkIn := map[string]bool{}
	for _, ev := range sim.DroppedEvents() {
		switch {
		case ev.EventType != flabs.EventBillCreated:
		case ev.Data.IntegratorID != "":
			lost[ev.Data.IntegratorID] = true
		default:
			lostWalkIn[ev.Data.BillID] = true
		}
	}
	want := map[string]reconcile.Category{} // exception ID → category, for the no-bill ones
	for id := range lost {
		want["no_bill:"+id] = reconcile.CategoryNoBill
	}
	for _, id := range closedIDs {
		delete(want, id)
	}
	open, err := rules.List(ctx, db, "open", "")
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]reconcile.Category{}
	var rejected, refused []rules.Listed
	for _, e := range open {
		switch e.Category {
		case reconcile.CategoryRejectedRow:
			rejected = append(rejected, e)
		case reconcile.CategoryFileRefused:
			refused = append(refused, e)
		default:
			got[e.ID] = e.Category
		}
	}
	if diff := mapDiff(want, got); diff != "" {
		t.Errorf("open exceptions on day 30 other than rejected rows and refused files (-want +got):\n%s", diff)
	}
	if _, ok := got[snoozedID]; !ok {
		t.Errorf("%s, snoozed until day 20, is not open again on day 30", snoozedID)
	}
	// Day 24's bad row was never corrected and is inside the 7-day window;
	// day 28's was corrected on day 29; days 8 and 16 fell out of it.
	if len(rejected) != 1 || rejected[0].File != "sunrise_2026-10-24.csv" || rejected[0].Row != 5 {
		t.Errorf("open rejected rows: %+v, want only row 5 of sunrise_2026-10-24.csv", rejected)
	}
	if len(refused) != 1 || !strings.Contains(refused[0].File, "metro_2026-10-27.csv") {
		t.Errorf("open refused files: %+v, want only metro_2026-10-27.csv", refused)
	}
	replacedFiles, _ := rules.List(ctx, db, reconcile.StatusResolved, reconcile.CategoryFileRefused)
	if len(replacedFiles) != 2 {
		t.Errorf("resolved refused files: %+v, want days 5 and 15, each replaced by its corrected copy", replacedFiles)
	}
	for _, e := range replacedFiles {
		if want := "; replaced by " + strings.TrimSuffix(e.File, ".csv") + " (1).csv"; !strings.HasSuffix(e.Detail, want) {
			t.Errorf("%s: detail %q, want it to end %q", e.ID, e.Detail, want)
		}
	}
	resolved, _ := rules.List(ctx, db, reconcile.StatusResolved, reconcile.CategoryRejectedRow)
	for _, e := range resolved {
		if e.File == "sunrise_2026-10-28.csv" && !strings.Contains(e.Detail, "corrected by sunrise_2026-10-29.csv row") {
			t.Errorf("day 28's corrected row does not say what corrected it: %q", e.Detail)
		}
	}
	closed, _ := rules.List(ctx, db, reconcile.StatusClosed, "")
	if len(closed) != 2 {
		t.Errorf("closed on day 30: %+v, want the two closed on day 12", closed)
	}

	last := results[30]
	checkWorkbook(t, last.Workbook)
	if n := last.Result.New + last.Result.Open; n != len(open) {
		t.Errorf("day 30 counts %d open, the list %d", n, len(open))
	}
	// Walk-in bills are counted (those that arrived in the window), never listed.
	wantWalkIns := 0
	for id, at := range walkIns {
		if !lostWalkIn[id] && !at.Before(day(30, 23).Add(-cfg.Reconcile.RejectsFor)) {
			wantWalkIns++
		}
	}
	if last.Result.WalkInBills != wantWalkIns {
		t.Errorf("walk-in bills counted %d, want %d", last.Result.WalkInBills, wantWalkIns)
	}
	for _, e := range open {
		if e.Category == reconcile.CategoryOrphanEvent {
			t.Errorf("a walk-in bill is listed: %+v", e)
		}
	}

	// The digest's trend: the last seven nights, as each night counted.
	dg := last.Digest
	if len(dg.TrendDays) != 7 || dg.TrendDays[0] != "10-24" || dg.TrendDays[6] != "10-30" {
		t.Fatalf("trend days %v", dg.TrendDays)
	}
	lines := map[string][]int{}
	for _, l := range dg.Trend {
		lines[l.Title] = l.Open
	}
	for _, c := range reconcile.Categories {
		var want []int
		for d := 24; d <= 30; d++ {
			want = append(want, results[d].Result.Total(c))
		}
		if slices.Max(want) == 0 {
			continue
		}
		if !slices.Equal(lines[report.Title(c)], want) {
			t.Errorf("trend of %s: %v, the nights counted %v", c, lines[report.Title(c)], want)
		}
	}
	if got := lines[report.Title(reconcile.CategoryNoBill)]; len(got) != 7 || got[6] != len(want) {
		t.Errorf("the trend ends at %v no-bill exceptions, %d are open", got, len(want))
	}
	t.Logf("day 30: %d open (%d no bill, lost webhooks %d, closed %d); walk-in bills %d; trend %v", len(open), len(want), len(lost), len(closedIDs), wantWalkIns, dg.Trend)
}

// decide closes the first two no-bill items of a night's workbook and
// snoozes the third until day 20, the way a person does: in the workbook,
// saved again, then `exceptions import`.
func decide(t *testing.T, workbook string, db *store.DB, now time.Time) (closed []string, snoozed string) {
	t.Helper()
	f, err := excelize.OpenFile(workbook)
	if err != nil {
		t.Fatal(err)
	}
	sheet := report.Title(reconcile.CategoryNoBill)
	rows, err := f.GetRows(sheet)
	if err != nil || len(rows) < 4 {
		t.Fatalf("day 12 has %d no-bill rows (%v); the scenario needs 3", len(rows)-1, err)
	}
	column := func(name string, row int) string {
		c, _ := excelize.CoordinatesToCellName(slices.Index(report.ExceptionColumns, name)+1, row)
		return c
	}
	for i, action := range []string{"close", "close", "snooze"} {
		f.SetCellValue(sheet, column(report.ColumnAction, i+2), action)
		f.SetCellValue(sheet, column(report.ColumnNote, i+2), "checked in Flabs: booked; the webhook was lost")
		if action == "snooze" { // the day in its own date cell, as the list has it
			f.SetCellValue(sheet, column(report.ColumnSnoozeUntil, i+2), time.Date(2026, 10, 20, 0, 0, 0, 0, time.UTC))
		}
		if action == "close" {
			closed = append(closed, rows[i+1][0])
		} else {
			snoozed = rows[i+1][0]
		}
	}
	edited := strings.TrimSuffix(workbook, ".xlsx") + "-done.xlsx"
	if err := f.SaveAs(edited); err != nil {
		t.Fatal(err)
	}
	f.Close()
	ds, err := report.ReadDecisions(edited, time.UTC)
	if err != nil {
		t.Fatal(err)
	}
	if err := rules.Apply(context.Background(), db, ds, "ops", now); err != nil {
		t.Fatal(err)
	}
	return closed, snoozed
}

func mapDiff[V comparable](want, got map[string]V) string {
	var b strings.Builder
	for k := range want {
		if _, ok := got[k]; !ok {
			fmt.Fprintf(&b, "- %s\n", k)
		}
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			fmt.Fprintf(&b, "+ %s (%v)\n", k, got[k])
		}
	}
	return b.String()
}

// checkWorkbook holds a night's workbook to the order ops read it in:
// sheets in the Summary's order, rows by partner, file and row number
// (a number), an Action list on every category sheet, and no ID made of
// a category and a database number.
func checkWorkbook(t *testing.T, path string) {
	t.Helper()
	f, err := excelize.OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	titles := map[string]int{}
	for i, c := range reconcile.Categories {
		titles[report.Title(c)] = i
	}
	prev := -1
	idx := func(name string) int { return slices.Index(report.ExceptionColumns, name) }
	for _, sheet := range f.GetSheetList() {
		pos, ok := titles[sheet]
		if !ok {
			continue
		}
		if pos < prev {
			t.Errorf("sheet %q out of the Summary's order: %v", sheet, f.GetSheetList())
		}
		prev = pos
		rows, _ := f.GetRows(sheet)
		type key struct {
			partner, file string
			row           int
		}
		var last key
		for i, r := range rows[1:] {
			r = append(r, make([]string, len(report.ExceptionColumns))...)
			if regexp.MustCompile(`^[a-z_]+:[0-9]+$`).MatchString(r[0]) {
				t.Errorf("%s: ID %q is a database number", sheet, r[0])
			}
			n := 0
			if v := r[idx(report.ColumnRow)]; v != "" {
				cell, _ := excelize.CoordinatesToCellName(idx(report.ColumnRow)+1, i+2)
				if ty, _ := f.GetCellType(sheet, cell); ty != excelize.CellTypeNumber && ty != excelize.CellTypeUnset {
					t.Errorf("%s!%s = %q is not a number", sheet, cell, v)
				}
				n, _ = strconv.Atoi(v)
			}
			k := key{r[idx(report.ColumnPartner)], r[idx("File")], n}
			if i > 0 && (k.partner < last.partner || k.partner == last.partner && (k.file < last.file || k.file == last.file && k.row < last.row)) {
				t.Errorf("%s row %d %v comes after %v", sheet, i+2, k, last)
			}
			last = k
		}
		dvs, _ := f.GetDataValidations(sheet)
		if !slices.ContainsFunc(dvs, func(dv *excelize.DataValidation) bool { return dv.Type == "list" }) {
			t.Errorf("%s: no Action list", sheet)
		}
	}
}
