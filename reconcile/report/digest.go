package report

import (
	"bytes"
	"fmt"
	"html/template"
	"path/filepath"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/flabsync/flabsync/reconcile"
)

// Digest is the email's body: the Summary sheet's figures in the
// Summary's order (since the last run, categories with their oldest,
// partners, files, names to map, rows sent back; then the trend and the
// longest open), in plain text and in HTML made of narrow plain tables
// that read on a phone. It carries counts and names of categories,
// partners and files, never patient data.
type Digest struct {
	At       time.Time // in the report's time zone
	Workbook string    // the attachment's file name

	New, Open, Resolved int // as on the Summary sheet: Open is "still open from before"
	Categories          []CategoryLine
	Partners            []PartnerLine
	Files               int
	UnbalancedFiles     []string // names of the files that do not balance
	RefusedFiles        []string // names of the files refused (in errors/), as the Summary's Check says
	Unmapped            int      // names on the Unmapped sheet
	Rejected            int      // rows in the partner reject files
	WalkInBills         int      // bills made inside Flabs, counted not listed
	NotAttached         string   // set when the workbook was too large to attach: where it is
	// TrendDays are the last runs' days, oldest first, and Trend each
	// category's open exceptions on them (categories open on none left
	// out): whether the report converges.
	TrendDays []string
	Trend     []TrendLine
	Oldest    []OldestLine // the longest-open exceptions, oldest first
}

// TrendLine is one category's open exceptions over the last runs.
type TrendLine struct {
	Title string
	Open  []int
}

// OldestLine is one long-open exception: its ID, category, partner and
// since when (never its detail, which may quote a sheet's cells).
type OldestLine struct {
	ID, Title, Partner string
	Since              time.Time
	Days               int
}

// CategoryLine is one category with exceptions: Open counts new and still
// open ones (the Summary's Total column), New those first seen this run,
// Oldest when the oldest of them happened (zero if none is open).
type CategoryLine struct {
	Category  reconcile.Category
	Title     string
	Open, New int
	Oldest    time.Time
}

// PartnerLine is one partner's new and still open exceptions.
type PartnerLine struct {
	Partner string
	Open    int
}

// NewDigest makes the digest of a report from the workbook's figures.
func NewDigest(d *Data, info WorkbookInfo) Digest {
	dg := Digest{
		At:       d.At.In(d.location()),
		Workbook: filepath.Base(info.Path),
		New:      info.New,
		Open:     info.Open,
		Resolved: info.Resolved,
		Files:    len(d.Files),
		Unmapped: info.Unmapped,
		Rejected: rejectedRows(d.Rejects),
	}
	dg.WalkInBills = d.WalkInBills
	dg.TrendDays, dg.Trend = trendLines(d.Trend, d.location())
	for _, e := range d.Oldest {
		since := e.Since
		if since.IsZero() {
			since = e.FirstSeen
		}
		dg.Oldest = append(dg.Oldest, OldestLine{ID: e.ID, Title: Title(e.Category), Partner: partnerLabel(e.Partner),
			Since: since.In(d.location()), Days: int(d.At.Sub(since).Hours() / 24)})
	}
	w := &workbook{info: info}
	for _, cat := range w.categories() {
		n := 0
		for _, c := range info.Counts[cat] {
			n += c
		}
		if n > 0 || info.NewByCategory[cat] > 0 {
			l := CategoryLine{Category: cat, Title: Title(cat), Open: n, New: info.NewByCategory[cat]}
			if old, ok := info.OldestByCategory[cat]; ok && n > 0 {
				l.Oldest = old.In(d.location())
			}
			dg.Categories = append(dg.Categories, l)
		}
	}
	for _, p := range w.partners() {
		n := 0
		for _, byPartner := range info.Counts {
			n += byPartner[p]
		}
		dg.Partners = append(dg.Partners, PartnerLine{Partner: partnerLabel(p), Open: n})
	}
	for _, f := range d.Files {
		switch {
		case f.Refused:
			dg.RefusedFiles = append(dg.RefusedFiles, f.Name)
		case !f.Balanced:
			dg.UnbalancedFiles = append(dg.UnbalancedFiles, f.Name)
		}
	}
	return dg
}

// trendLines lays the trend out by category, in the categories' order.
func trendLines(points []reconcile.TrendPoint, loc *time.Location) (days []string, lines []TrendLine) {
	if len(points) == 0 {
		return nil, nil
	}
	for _, p := range points {
		days = append(days, p.At.In(loc).Format("01-02"))
	}
	for _, c := range reconcile.Categories {
		l := TrendLine{Title: Title(c)}
		seen := false
		for _, p := range points {
			l.Open = append(l.Open, p.Open[c])
			seen = seen || p.Open[c] > 0
		}
		if seen {
			lines = append(lines, l)
		}
	}
	return days, lines
}

// Total is every exception that needs a person: new plus still open.
func (dg Digest) Total() int { return dg.New + dg.Open }

// Subject is the email's subject line.
func (dg Digest) Subject() string {
	s := fmt.Sprintf("flabsync %s: %d open exceptions (%d new, %d resolved)",
		dg.At.Format("2006-01-02"), dg.Total(), dg.New, dg.Resolved)
	if n := len(dg.UnbalancedFiles); n > 0 {
		s += fmt.Sprintf(", %d %s NOT BALANCE", n, plural(n, "file DOES", "files DO"))
	}
	return s
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// Text is the plain-text body.
func (dg Digest) Text() string {
	var b strings.Builder
	fmt.Fprintf(&b, "flabsync exception report, %s\n\n", dg.At.Format("2006-01-02 15:04 MST"))
	fmt.Fprintf(&b, "Open exceptions: %d (%d new, %d still open from before); %d resolved since the last run.\n",
		dg.Total(), dg.New, dg.Open, dg.Resolved)
	fmt.Fprintf(&b, "%d bills made in Flabs (walk-in patients: kept and counted, not exceptions).\n", dg.WalkInBills)
	if len(dg.Categories) > 0 {
		w := len("By category")
		for _, c := range dg.Categories {
			w = max(w, utf8.RuneCountInString(c.Title)+2)
		}
		fmt.Fprintf(&b, "\n%-*s %5s %5s  %s\n", w, "By category", "open", "new", "oldest")
		for _, c := range dg.Categories {
			fmt.Fprintf(&b, "  %-*s %5d %5d  %s\n", w-2, c.Title, c.Open, c.New, day(c.Oldest))
		}
	}
	if len(dg.Partners) > 0 {
		w := len("By partner")
		for _, p := range dg.Partners {
			w = max(w, utf8.RuneCountInString(p.Partner)+2)
		}
		fmt.Fprintf(&b, "\n%-*s %5s\n", w, "By partner", "open")
		for _, p := range dg.Partners {
			fmt.Fprintf(&b, "  %-*s %5d\n", w-2, p.Partner, p.Open)
		}
	}
	fmt.Fprintf(&b, "\nFiles checked: %d", dg.Files)
	if n := len(dg.UnbalancedFiles); n > 0 {
		fmt.Fprintf(&b, "; %d %s NOT BALANCE: %s", n, plural(n, "DOES", "DO"), strings.Join(dg.UnbalancedFiles, ", "))
	}
	if n := len(dg.RefusedFiles); n > 0 {
		fmt.Fprintf(&b, "; %d REFUSED (in errors/): %s", n, strings.Join(dg.RefusedFiles, ", "))
	}
	b.WriteString(dg.balanced())
	fmt.Fprintf(&b, ".\nUnmapped names to review: %d (sheet Unmapped; fill in IDs and run `flabsync mapping import --review`).\n", dg.Unmapped)
	fmt.Fprintf(&b, "Rejected rows sent back to partners: %d.\n", dg.Rejected)
	if len(dg.Trend) > 0 {
		w := len("Open, last runs")
		for _, l := range dg.Trend {
			w = max(w, utf8.RuneCountInString(l.Title)+2)
		}
		fmt.Fprintf(&b, "\n%-*s", w, "Open, last runs")
		for _, d := range dg.TrendDays {
			fmt.Fprintf(&b, " %5s", d)
		}
		b.WriteString("\n")
		for _, l := range dg.Trend {
			fmt.Fprintf(&b, "  %-*s", w-2, l.Title)
			for _, n := range l.Open {
				fmt.Fprintf(&b, " %5d", n)
			}
			b.WriteString("\n")
		}
	}
	if len(dg.Oldest) > 0 {
		b.WriteString("\nOpen longest:\n")
		for _, o := range dg.Oldest {
			fmt.Fprintf(&b, "  %s (%s, %s) open since %s, %d %s\n", o.ID, o.Title, o.Partner, o.Since.Format("2006-01-02"), o.Days, plural(o.Days, "day", "days"))
		}
	}
	switch {
	case dg.NotAttached != "":
		fmt.Fprintf(&b, "\n%s.\n", dg.NotAttached)
	case dg.Workbook != "":
		fmt.Fprintf(&b, "\nThe workbook is attached: %s\n", dg.Workbook)
	}
	return b.String()
}

// balanced ends the files' sentence: ", all balanced" when every file
// read balanced, ", the others balanced" when the only trouble is
// refused files.
func (dg Digest) balanced() string {
	switch {
	case len(dg.UnbalancedFiles) > 0 || dg.Files == 0 || len(dg.RefusedFiles) >= dg.Files:
		return ""
	case len(dg.RefusedFiles) > 0:
		return ", the others balanced"
	}
	return ", all balanced"
}

// Balanced is balanced for the HTML template.
func (dg Digest) Balanced() string { return dg.balanced() }

// day is t's day, or "-" for none.
func day(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.Format("2006-01-02")
}

// The HTML is for a phone as much as a desk: no set widths, narrow
// tables of a few columns, small padding, text that wraps.
var htmlDigest = template.Must(template.New("digest").Funcs(template.FuncMap{
	"join": strings.Join,
	"does": func(n int) string { return plural(n, "DOES", "DO") },
	"days": func(n int) string { return plural(n, "day", "days") },
	"day":  day,
}).Parse(`<!DOCTYPE html>
<html><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"></head>
<body style="font-family: sans-serif; font-size: 14px; margin: 8px">
<h3 style="margin: 0 0 8px">flabsync exception report, {{.At.Format "2006-01-02 15:04 MST"}}</h3>
<p><b>Open exceptions: {{.Total}}</b> ({{.New}} new, {{.Open}} still open from before); {{.Resolved}} resolved since the last run.<br>
{{.WalkInBills}} bills made in Flabs (walk-in patients: kept and counted, not exceptions).</p>
{{- if .Categories}}
<table cellpadding="3" cellspacing="0" border="1" style="border-collapse: collapse; border-color: #ccc; margin-bottom: 10px">
<tr><th align="left">Category</th><th align="right">open</th><th align="right">new</th><th align="left">oldest</th></tr>
{{- range .Categories}}
<tr><td>{{.Title}}</td><td align="right">{{.Open}}</td><td align="right">{{.New}}</td><td>{{day .Oldest}}</td></tr>
{{- end}}
</table>
{{- end}}
{{- if .Partners}}
<table cellpadding="3" cellspacing="0" border="1" style="border-collapse: collapse; border-color: #ccc; margin-bottom: 10px">
<tr><th align="left">Partner</th><th align="right">open</th></tr>
{{- range .Partners}}
<tr><td>{{.Partner}}</td><td align="right">{{.Open}}</td></tr>
{{- end}}
</table>
{{- end}}
<p>Files checked: {{.Files}}
{{- if .UnbalancedFiles}}; <b style="color: #c00000">{{len .UnbalancedFiles}} {{does (len .UnbalancedFiles)}} NOT BALANCE: {{join .UnbalancedFiles ", "}}</b>{{end}}
{{- if .RefusedFiles}}; <b style="color: #c00000">{{len .RefusedFiles}} REFUSED (in errors/): {{join .RefusedFiles ", "}}</b>{{end}}
{{- .Balanced}}.<br>
Unmapped names to review: {{.Unmapped}} (sheet Unmapped; fill in IDs and run <code>flabsync mapping import --review</code>).<br>
Rejected rows sent back to partners: {{.Rejected}}.</p>
{{- if .Trend}}
<table cellpadding="3" cellspacing="0" border="1" style="border-collapse: collapse; border-color: #ccc; margin-bottom: 10px; font-size: 12px">
<tr><th align="left">Open, last runs</th>{{range .TrendDays}}<th align="right">{{.}}</th>{{end}}</tr>
{{- range .Trend}}
<tr><td>{{.Title}}</td>{{range .Open}}<td align="right">{{.}}</td>{{end}}</tr>
{{- end}}
</table>
{{- end}}
{{- if .Oldest}}
<p>Open longest:</p>
<ul style="padding-left: 18px">
{{- range .Oldest}}
<li style="word-break: break-all">{{.ID}} ({{.Title}}, {{.Partner}}) open since {{.Since.Format "2006-01-02"}}, {{.Days}} {{days .Days}}</li>
{{- end}}
</ul>
{{- end}}
{{- if .NotAttached}}
<p>{{.NotAttached}}.</p>
{{- else if .Workbook}}
<p>The workbook is attached: {{.Workbook}}</p>
{{- end}}
</body></html>
`))

// HTML is the HTML body; every name in it is escaped by html/template.
func (dg Digest) HTML() string {
	var b bytes.Buffer
	if err := htmlDigest.Execute(&b, dg); err != nil {
		// The template and its data are ours: a failure is a bug.
		panic(fmt.Sprintf("report: digest template: %v", err))
	}
	return b.String()
}
