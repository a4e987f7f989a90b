package report_test

import (
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/flabsync/flabsync/reconcile"
	"github.com/flabsync/flabsync/reconcile/report"
)

// digestText is what a digest's plain text says, read back.
type digestText struct {
	Total, New, Open, Resolved int
	ByCategory                 map[reconcile.Category][2]int // category code → {open, new}
	ByPartner                  map[string]int
	Files                      int
	Unbalanced, Refused        []string
	Unmapped, Rejected         int
}

var (
	reHead     = regexp.MustCompile(`Open exceptions: (\d+) \((\d+) new, (\d+) still open from before\); (\d+) resolved since the last run\.`)
	reFiles    = regexp.MustCompile(`Files checked: (\d+)(?:; \d+ DOES? NOT BALANCE: (.*?))?(?:; \d+ REFUSED \(in errors/\): (.*?))?(?:, (?:all|the others) balanced)?\.\n`)
	reUnmapped = regexp.MustCompile(`Unmapped names to review: (\d+)`)
	reRejected = regexp.MustCompile(`Rejected rows sent back to partners: (\d+)\.`)
	reLine     = regexp.MustCompile(`^\s*(.*?)\s+(\d+)(?:\s+(\d+))?(?:\s+(?:\d{4}-\d\d-\d\d|-))?\s*$`)
)

func readDigestText(t *testing.T, text string) digestText {
	t.Helper()
	atoi := func(s string) int {
		n, err := strconv.Atoi(s)
		if err != nil {
			t.Fatalf("digest: %q: %v", s, err)
		}
		return n
	}
	byTitle := map[string]reconcile.Category{}
	for _, c := range reconcile.Categories {
		byTitle[report.Title(c)] = c
	}
	d := digestText{ByCategory: map[reconcile.Category][2]int{}, ByPartner: map[string]int{}}
	m := reHead.FindStringSubmatch(text)
	if m == nil {
		t.Fatalf("digest has no head line:\n%s", text)
	}
	d.Total, d.New, d.Open, d.Resolved = atoi(m[1]), atoi(m[2]), atoi(m[3]), atoi(m[4])
	if m = reFiles.FindStringSubmatch(text); m == nil {
		t.Fatalf("digest has no files line:\n%s", text)
	}
	d.Files = atoi(m[1])
	if m[2] != "" {
		d.Unbalanced = strings.Split(m[2], ", ")
	}
	if m[3] != "" {
		d.Refused = strings.Split(m[3], ", ")
	}
	d.Unmapped = atoi(reUnmapped.FindStringSubmatch(text)[1])
	d.Rejected = atoi(reRejected.FindStringSubmatch(text)[1])
	section := ""
	for _, line := range strings.Split(text, "\n") {
		switch {
		case strings.HasPrefix(line, "By category"):
			section = "cat"
			continue
		case strings.HasPrefix(line, "By partner"):
			section = "partner"
			continue
		case strings.TrimSpace(line) == "":
			section = ""
			continue
		}
		if section == "" {
			continue
		}
		m := reLine.FindStringSubmatch(line)
		if m == nil {
			t.Fatalf("digest line %q", line)
		}
		if section == "cat" {
			d.ByCategory[byTitle[m[1]]] = [2]int{atoi(m[2]), atoi(m[3])}
		} else {
			d.ByPartner[m[1]] = atoi(m[2])
		}
	}
	return d
}

// checkDigestMatchesSummary holds a digest's text to the workbook's
// Summary sheet, number by number.
func checkDigestMatchesSummary(t *testing.T, text string, s summary) {
	t.Helper()
	dt := readDigestText(t, text)
	if dt.New != s.New || dt.Open != s.Open || dt.Resolved != s.Resolved || dt.Total != s.Total {
		t.Errorf("digest new/open/resolved/total %d/%d/%d/%d, summary %d/%d/%d/%d",
			dt.New, dt.Open, dt.Resolved, dt.Total, s.New, s.Open, s.Resolved, s.Total)
	}
	want := map[reconcile.Category][2]int{}
	for c, v := range s.ByCategory {
		if v != [2]int{} {
			want[c] = v
		}
	}
	if diff := cmp.Diff(want, dt.ByCategory); diff != "" {
		t.Errorf("digest categories vs summary (-summary +digest):\n%s", diff)
	}
	if diff := cmp.Diff(s.ByPartner, dt.ByPartner); diff != "" {
		t.Errorf("digest partners vs summary (-summary +digest):\n%s", diff)
	}
	if dt.Files != s.Balanced+len(s.Unbalanced)+len(s.Refused) || !cmp.Equal(dt.Unbalanced, s.Unbalanced) || !cmp.Equal(dt.Refused, s.Refused) {
		t.Errorf("digest files %d unbalanced %q refused %q, summary %d balanced, unbalanced %q, refused %q",
			dt.Files, dt.Unbalanced, dt.Refused, s.Balanced, s.Unbalanced, s.Refused)
	}
	if dt.Unmapped != s.Unmapped || dt.Rejected != s.Rejected {
		t.Errorf("digest unmapped/rejected %d/%d, summary %d/%d", dt.Unmapped, dt.Rejected, s.Unmapped, s.Rejected)
	}
}

func TestDigestMatchesSummary(t *testing.T) {
	path, d, info := writeSample(t)
	s := readSummary(t, openWorkbook(t, path))
	dg := report.NewDigest(d, info)
	checkDigestMatchesSummary(t, dg.Text(), s)
	if dg.Total() != s.Total || dg.Workbook != "exceptions_2026-11-25.xlsx" {
		t.Errorf("digest total %d workbook %q", dg.Total(), dg.Workbook)
	}
	subj := dg.Subject()
	wantSubj := "flabsync 2026-11-25: " + strconv.Itoa(s.Total) + " open exceptions (" + strconv.Itoa(s.New) +
		" new, 4 resolved), 1 file DOES NOT BALANCE"
	if subj != wantSubj {
		t.Errorf("subject %q, want %q", subj, wantSubj)
	}
	html := dg.HTML()
	for _, want := range []string{
		"<b>Open exceptions: " + strconv.Itoa(s.Total) + "</b>",
		"1 DOES NOT BALANCE: =evil.xlsx",
		"<td>" + report.Title(reconcile.CategoryMissingDrop) + "</td>",
		"<td>" + report.NoPartner + "</td>",
	} {
		if !strings.Contains(html, want) {
			t.Errorf("HTML lacks %q:\n%s", want, html)
		}
	}
}

func TestDigestHTMLEscapes(t *testing.T) {
	d := &report.Data{At: runAt, Location: ist, Files: []report.FileCheck{{Name: `<script>alert(1)</script>.csv`}},
		Exceptions: exceptionsOf([]reconcile.Exception{{ID: "1", Category: reconcile.CategoryNoBill, Status: reconcile.StatusNew, Partner: `<img src=x onerror=alert(1)>`}})}
	dir := t.TempDir()
	info, err := report.WriteWorkbook(dir+"/w.xlsx", d)
	if err != nil {
		t.Fatal(err)
	}
	html := report.NewDigest(d, info).HTML()
	if strings.Contains(html, "<script>") || strings.Contains(html, "<img") {
		t.Fatalf("HTML carries markup from names:\n%s", html)
	}
	if !strings.Contains(html, "&lt;img src=x onerror=alert(1)&gt;") || !strings.Contains(html, "&lt;script&gt;") {
		t.Errorf("names not shown escaped:\n%s", html)
	}
}

func TestDigestQuietDay(t *testing.T) {
	d := &report.Data{At: runAt, Location: ist}
	info, err := report.WriteWorkbook(t.TempDir()+"/w.xlsx", d)
	if err != nil {
		t.Fatal(err)
	}
	dg := report.NewDigest(d, info)
	if got := dg.Subject(); got != "flabsync 2026-11-25: 0 open exceptions (0 new, 0 resolved)" {
		t.Errorf("subject %q", got)
	}
	dt := readDigestText(t, dg.Text())
	if dt.Total != 0 || len(dt.ByCategory) != 0 || dt.Files != 0 {
		t.Errorf("quiet digest %+v", dt)
	}
}

// TestDigestTrendAndOldest: the digest shows each category's open
// exceptions over the last runs (oldest run first, categories never open
// left out) and the longest-open exceptions with how long, never their
// detail.
func TestDigestTrendAndOldest(t *testing.T) {
	day := func(n int) time.Time { return runAt.Add(time.Duration(n-7) * 24 * time.Hour) }
	var trend []reconcile.TrendPoint
	for i, n := range []int{9, 8, 6, 5, 3, 2, 1} {
		trend = append(trend, reconcile.TrendPoint{At: day(i + 1), Open: map[reconcile.Category]int{reconcile.CategoryRejectedRow: n, reconcile.CategoryNoBill: 7 - i}})
	}
	d := &report.Data{At: runAt, Location: ist, Trend: trend, Oldest: []reconcile.Exception{
		{ID: "no_bill:sunrise:S-1", Category: reconcile.CategoryNoBill, Partner: "sunrise", FirstSeen: runAt.Add(-12 * 24 * time.Hour), Detail: "Asha Rao, 34 Y"},
	}}
	info, err := report.WriteWorkbook(t.TempDir()+"/w.xlsx", d)
	if err != nil {
		t.Fatal(err)
	}
	dg := report.NewDigest(d, info)
	text := dg.Text()
	rows := map[string]string{}
	for _, line := range strings.Split(text, "\n") {
		f := strings.Fields(line)
		if len(f) >= 7 {
			rows[strings.Join(f[:len(f)-7], " ")] = strings.Join(f[len(f)-7:], " ")
		}
	}
	if got := rows[report.Title(reconcile.CategoryRejectedRow)]; got != "9 8 6 5 3 2 1" {
		t.Errorf("rejected rows trend %q\n%s", got, text)
	}
	if got := rows[report.Title(reconcile.CategoryNoBill)]; got != "7 6 5 4 3 2 1" {
		t.Errorf("no bill trend %q\n%s", got, text)
	}
	if strings.Contains(text, report.Title(reconcile.CategoryBillDeleted)) {
		t.Errorf("a category never open is in the trend:\n%s", text)
	}
	if !strings.Contains(text, "no_bill:sunrise:S-1 ("+report.Title(reconcile.CategoryNoBill)+", sunrise) open since 2026-11-13, 12 days") {
		t.Errorf("oldest line missing:\n%s", text)
	}
	for _, body := range []string{text, dg.HTML()} {
		if strings.Contains(body, "Asha") {
			t.Errorf("an exception's detail (which may quote a sheet) is in the digest:\n%s", body)
		}
	}
	if html := dg.HTML(); !strings.Contains(html, "<td align=\"right\">9</td>") || !strings.Contains(html, "no_bill:sunrise:S-1") {
		t.Errorf("HTML lacks the trend or the oldest:\n%s", html)
	}
}

// TestDigestFollowsTheSummary: the digest says what the Summary says in
// the Summary's order — since the last run (walk-in bills with it), the
// categories in their order with the oldest of each, partners, files,
// names to map, rows sent back — and only then the trend and the longest
// open.
func TestDigestFollowsTheSummary(t *testing.T) {
	path, d, info := writeSample(t)
	f := openWorkbook(t, path)
	text := report.NewDigest(d, info).Text()
	at := -1
	for _, part := range []string{"Open exceptions:", "bills made in Flabs", "By category", "By partner", "Files checked:",
		"Unmapped names to review:", "Rejected rows sent back to partners:", "The workbook is attached"} {
		i := strings.Index(text, part)
		if i < at {
			t.Errorf("%q comes before what the Summary shows before it:\n%s", part, text)
		}
		at = max(at, i)
	}
	// The categories, in the Summary's order, each with its oldest day.
	var want []string
	head := []string(nil)
	for _, r := range rowsOf(t, f, report.SummarySheet) {
		switch {
		case len(r) > 0 && r[0] == "Category":
			head = r
		case head != nil && len(r) > 0 && r[0] == report.LabelTotal:
			head = nil
		case head != nil && len(r) > 1:
			ti := slices.Index(head, report.LabelTotal)
			if r[ti] == "0" && r[ti+1] == "0" {
				continue
			}
			oldest := "-"
			if oi := slices.Index(head, report.LabelOldest); oi < len(r) && r[oi] != "" {
				oldest = r[oi][:10]
			}
			want = append(want, r[0]+" "+r[ti]+" "+r[ti+1]+" "+oldest)
		}
	}
	var got []string
	in := false
	for _, line := range strings.Split(text, "\n") {
		switch {
		case strings.HasPrefix(line, "By category"):
			in = true
		case strings.TrimSpace(line) == "":
			in = false
		case in:
			got = append(got, strings.Join(strings.Fields(line), " "))
		}
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("digest categories vs the Summary's (-summary +digest):\n%s", diff)
	}
}

// TestDigestReadsOnAPhone: the HTML sets the viewport, fixes no width
// and keeps its tables narrow (the trend's days aside).
func TestDigestReadsOnAPhone(t *testing.T) {
	_, d, info := writeSample(t)
	html := report.NewDigest(d, info).HTML()
	if !strings.Contains(html, `name="viewport" content="width=device-width`) {
		t.Errorf("no viewport: a phone shows the desktop width")
	}
	if regexp.MustCompile(`(?i)\swidth="|[^-]width:\s*\d`).MatchString(html) {
		t.Errorf("a fixed width in:\n%s", html)
	}
	for _, row := range regexp.MustCompile(`<tr>.*?</tr>`).FindAllString(html, -1) {
		if strings.Contains(row, "last runs") {
			continue
		}
		if n := strings.Count(row, "<td") + strings.Count(row, "<th"); n > 4 {
			t.Errorf("a table row of %d columns: %s", n, row)
		}
	}
}

// TestDigestSaysRefusedFiles: a file the Summary marks REFUSED is named
// so in the digest, not counted among the balanced ones.
func TestDigestSaysRefusedFiles(t *testing.T) {
	d := sampleData()
	d.Files = append(d.Files, report.FileCheck{Name: "lakeview_scan.pdf", Partner: "lakeview", Status: "failed", Refused: true, Balanced: true})
	path := t.TempDir() + "/exceptions_2026-11-25.xlsx"
	info, err := report.WriteWorkbook(path, d)
	if err != nil {
		t.Fatal(err)
	}
	s := readSummary(t, openWorkbook(t, path))
	dg := report.NewDigest(d, info)
	checkDigestMatchesSummary(t, dg.Text(), s)
	if !strings.Contains(dg.Text(), "1 REFUSED (in errors/): lakeview_scan.pdf") || !strings.Contains(dg.HTML(), "1 REFUSED (in errors/): lakeview_scan.pdf") {
		t.Errorf("the refused file is not named:\n%s", dg.Text())
	}
}
