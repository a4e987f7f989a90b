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

// Digest is the email's body: the Summary sheet's figures, in plain text
// and HTML. It carries counts and names of categories, partners and
// files, never patient data.
type Digest struct {
	At       time.Time // in the report's time zone
	Workbook string    // the attachment's file name

	New, Open, Resolved int // as on the Summary sheet: Open is "still open from before"
	Categories          []CategoryLine
	Partners            []PartnerLine
	Files               int
	UnbalancedFiles     []string // names of the files that do not balance
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
// open ones (the Summary's Total column), New those first seen this run.
type CategoryLine struct {
	Category  reconcile.Category
	Title     string
	Open, New int
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
		dg.Oldest = append(dg.Oldest, OldestLine{ID: e.ID, Title: Title(e.Category), Partner: partnerLabel(e.Partner),
			Since: e.FirstSeen.In(d.location()), Days: int(d.At.Sub(e.FirstSeen).Hours() / 24)})
	}
	w := &workbook{info: info}
	for _, cat := range w.categories() {
		n := 0
		for _, c := range info.Counts[cat] {
			n += c
		}
		if n > 0 || info.NewByCategory[cat] > 0 {
			dg.Categories = append(dg.Categories, CategoryLine{Category: cat, Title: Title(cat), Open: n, New: info.NewByCategory[cat]})
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
		if !f.Balanced {
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
	if len(dg.Categories) > 0 {
		w := len("By category")
		for _, c := range dg.Categories {
			w = max(w, utf8.RuneCountInString(c.Title)+2)
		}
		fmt.Fprintf(&b, "\n%-*s %6s %6s\n", w, "By category", "open", "new")
		for _, c := range dg.Categories {
			fmt.Fprintf(&b, "  %-*s %6d %6d\n", w-2, c.Title, c.Open, c.New)
		}
	}
	if len(dg.Partners) > 0 {
		w := len("By partner")
		for _, p := range dg.Partners {
			w = max(w, utf8.RuneCountInString(p.Partner)+2)
		}
		fmt.Fprintf(&b, "\n%-*s %6s\n", w, "By partner", "open")
		for _, p := range dg.Partners {
			fmt.Fprintf(&b, "  %-*s %6d\n", w-2, p.Partner, p.Open)
		}
	}
	if len(dg.Trend) > 0 {
		w := len("Open, last runs")
		for _, l := range dg.Trend {
			w = max(w, utf8.RuneCountInString(l.Title)+2)
		}
		fmt.Fprintf(&b, "\n%-*s", w, "Open, last runs")
		for _, d := range dg.TrendDays {
			fmt.Fprintf(&b, " %6s", d)
		}
		b.WriteString("\n")
		for _, l := range dg.Trend {
			fmt.Fprintf(&b, "  %-*s", w-2, l.Title)
			for _, n := range l.Open {
				fmt.Fprintf(&b, " %6d", n)
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
	fmt.Fprintf(&b, "\nFiles checked: %d", dg.Files)
	if n := len(dg.UnbalancedFiles); n > 0 {
		fmt.Fprintf(&b, "; %d %s NOT BALANCE: %s", n, plural(n, "DOES", "DO"), strings.Join(dg.UnbalancedFiles, ", "))
	} else if dg.Files > 0 {
		b.WriteString(", all balanced")
	}
	fmt.Fprintf(&b, ".\nUnmapped names to review: %d (sheet Unmapped; fill in IDs and run `flabsync mapping import --review`).\n", dg.Unmapped)
	fmt.Fprintf(&b, "Rejected rows sent back to partners: %d.\n", dg.Rejected)
	fmt.Fprintf(&b, "%d bills made in Flabs (walk-in patients: kept and counted, not exceptions).\n", dg.WalkInBills)
	switch {
	case dg.NotAttached != "":
		fmt.Fprintf(&b, "\n%s.\n", dg.NotAttached)
	case dg.Workbook != "":
		fmt.Fprintf(&b, "\nThe workbook is attached: %s\n", dg.Workbook)
	}
	return b.String()
}

var htmlDigest = template.Must(template.New("digest").Funcs(template.FuncMap{
	"join": strings.Join,
	"does": func(n int) string { return plural(n, "DOES", "DO") },
	"days": func(n int) string { return plural(n, "day", "days") },
}).Parse(`<!DOCTYPE html>
<html><body style="font-family: sans-serif">
<h2>flabsync exception report, {{.At.Format "2006-01-02 15:04 MST"}}</h2>
<p><b>Open exceptions: {{.Total}}</b> ({{.New}} new, {{.Open}} still open from before); {{.Resolved}} resolved since the last run.</p>
{{- if .Categories}}
<table cellpadding="4" style="border-collapse: collapse">
<tr><th align="left">Category</th><th align="right">open</th><th align="right">new</th></tr>
{{- range .Categories}}
<tr><td>{{.Title}}</td><td align="right">{{.Open}}</td><td align="right">{{.New}}</td></tr>
{{- end}}
</table>
{{- end}}
{{- if .Partners}}
<table cellpadding="4" style="border-collapse: collapse">
<tr><th align="left">Partner</th><th align="right">open</th></tr>
{{- range .Partners}}
<tr><td>{{.Partner}}</td><td align="right">{{.Open}}</td></tr>
{{- end}}
</table>
{{- end}}
{{- if .Trend}}
<table cellpadding="4" style="border-collapse: collapse">
<tr><th align="left">Open, last runs</th>{{range .TrendDays}}<th align="right">{{.}}</th>{{end}}</tr>
{{- range .Trend}}
<tr><td>{{.Title}}</td>{{range .Open}}<td align="right">{{.}}</td>{{end}}</tr>
{{- end}}
</table>
{{- end}}
{{- if .Oldest}}
<p>Open longest:</p>
<ul>
{{- range .Oldest}}
<li>{{.ID}} ({{.Title}}, {{.Partner}}) open since {{.Since.Format "2006-01-02"}}, {{.Days}} {{days .Days}}</li>
{{- end}}
</ul>
{{- end}}
<p>Files checked: {{.Files}}
{{- if .UnbalancedFiles}}; <b style="color: #c00000">{{len .UnbalancedFiles}} {{does (len .UnbalancedFiles)}} NOT BALANCE: {{join .UnbalancedFiles ", "}}</b>
{{- else if .Files}}, all balanced{{end}}.<br>
Unmapped names to review: {{.Unmapped}} (sheet Unmapped; fill in IDs and run <code>flabsync mapping import --review</code>).<br>
Rejected rows sent back to partners: {{.Rejected}}.<br>
{{.WalkInBills}} bills made in Flabs (walk-in patients: kept and counted, not exceptions).</p>
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
