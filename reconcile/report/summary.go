package report

import (
	"cmp"
	"fmt"
	"slices"
	"time"

	"github.com/xuri/excelize/v2"

	"github.com/flabsync/flabsync/reconcile"
)

// FileColumns is the header of the Summary's file conservation table.
var FileColumns = []string{"File", "Partner", "Received", "Status", "Rows in", "Submitted", "Rejected",
	"Rejected by Flabs", "Duplicate", "Failed", "Held", "Skipped", "Unconfirmed", "Unfinished", "Check"}

// The words of the conservation check column.
const (
	Balanced    = "BALANCED"
	NotBalanced = "DOES NOT BALANCE"
	Refused     = "REFUSED: see errors/"
	Unread      = "NOT READ TO ITS END (yet)"
)

// The Summary's labels, which tests and the digest look for.
const (
	LabelNew      = "New (first seen in this run)"
	LabelOpen     = "Still open from before"
	LabelResolved = "Resolved since the last run"
	LabelWalkIn   = "Bills made in Flabs (walk-in patients; not exceptions)"
	LabelTotal    = "Total"
	NoPartner     = "(no partner)"
	NoFiles       = "no files in this run"
	LabelUnmapped = "Unmapped names to review (sheet Unmapped)"
	LabelRejected = "Rejected rows sent back to partners"
	LabelOldest   = "Oldest open since"
)

// rowWriter collects the Summary's rows: the sheet is small (its
// categories and the run's files), and its columns are sized to them
// before they are written.
type rowWriter struct {
	rows [][]any
}

func (r *rowWriter) add(cells ...any) error {
	r.rows = append(r.rows, cells)
	return nil
}

func (r *rowWriter) blank() { r.rows = append(r.rows, nil) }

// summaryHeaderRows are the Summary's rows repeated on every printed page:
// its title and the run's time.
const summaryHeaderRows = 2

// writeSummary writes the Summary sheet from the counts taken while the
// exceptions streamed and from Data's files.
func (w *workbook) writeSummary() error {
	if err := fitToPage(w.f, SummarySheet); err != nil {
		return fmt.Errorf("sheet %s: %w", SummarySheet, err)
	}
	sw, err := w.f.NewStreamWriter(SummarySheet)
	if err != nil {
		return fmt.Errorf("sheet %s: %w", SummarySheet, err)
	}
	r := &rowWriter{}
	if err := w.summaryRows(r, w.partners()); err != nil {
		return fmt.Errorf("sheet %s: %w", SummarySheet, err)
	}
	widths := summaryWidths(r.rows, w.st)
	for i, wd := range widths {
		if err := sw.SetColWidth(i+1, i+1, wd); err != nil {
			return fmt.Errorf("sheet %s: %w", SummarySheet, err)
		}
	}
	for i, cells := range r.rows {
		if cells == nil {
			continue
		}
		// A header row is as tall as its longest wrapped name.
		lines := 1
		for j, c := range cells {
			if cell, ok := c.(excelize.Cell); ok && (cell.StyleID == w.st.header || cell.StyleID == w.st.headerNum) && j < len(widths) {
				v, _ := cell.Value.(string)
				lines = max(lines, wrappedLines(v, widths[j]))
			}
		}
		var opts []excelize.RowOpts
		if lines > 1 {
			opts = append(opts, excelize.RowOpts{Height: float64(lines) * lineHeight})
		}
		cell, _ := excelize.CoordinatesToCellName(1, i+1)
		if err := sw.SetRow(cell, cells, opts...); err != nil {
			return fmt.Errorf("sheet %s row %d: %w", SummarySheet, i+1, err)
		}
	}
	if err := w.printSetup(SummarySheet, true, summaryHeaderRows); err != nil {
		return fmt.Errorf("sheet %s: %w", SummarySheet, err)
	}
	if err := sw.Flush(); err != nil {
		return fmt.Errorf("sheet %s: %w", SummarySheet, err)
	}
	return nil
}

// summaryWidths sizes each column to what it shows whole: labels,
// names and numbers; a header wraps (over a few lines at most), and a
// row of one cell (a title) runs over the empty cells beside it.
func summaryWidths(rows [][]any, st styles) []float64 {
	var widths []float64
	for _, cells := range rows {
		if len(cells) < 2 {
			continue
		}
		for i, c := range cells {
			style, v := 0, c
			if cell, ok := c.(excelize.Cell); ok {
				style, v = cell.StyleID, cell.Value
			}
			var wd float64
			switch v := v.(type) {
			case string:
				wd = textWidth(v)
				if style == st.header || style == st.headerNum {
					wd = min(wd, 14)
				}
			case time.Time:
				wd = 18
			case int:
				wd = float64(len(fmt.Sprint(v))) + 3
			}
			for len(widths) <= i {
				widths = append(widths, 8)
			}
			widths[i] = max(widths[i], min(wd, 60))
		}
	}
	return widths
}

func (w *workbook) summaryRows(r *rowWriter, partners []string) error {
	st, info, loc := w.st, &w.info, w.d.location()
	cellOf := func(style int, v any) excelize.Cell { return excelize.Cell{StyleID: style, Value: v} }

	if err := r.add(cellOf(st.title, "flabsync exception report")); err != nil {
		return err
	}
	if err := r.add("Run at", dateCell(w.d.At, loc, st)); err != nil {
		return err
	}
	r.blank()
	if err := r.add(cellOf(st.section, "Since the last run")); err != nil {
		return err
	}
	for _, l := range []struct {
		label string
		n     int
	}{{LabelNew, info.New}, {LabelOpen, info.Open}, {LabelResolved, info.Resolved}, {LabelWalkIn, w.d.WalkInBills}} {
		if err := r.add(l.label, l.n); err != nil {
			return err
		}
	}
	r.blank()

	// Category × partner: new and open exceptions.
	if err := r.add(cellOf(st.section, "Open exceptions by category and partner (new + still open)")); err != nil {
		return err
	}
	head := []any{cellOf(st.header, "Category"), cellOf(st.header, "Code")}
	for _, p := range partners {
		head = append(head, cellOf(st.headerNum, partnerLabel(p)))
	}
	head = append(head, cellOf(st.headerNum, LabelTotal), cellOf(st.headerNum, "of which new"), cellOf(st.header, LabelOldest))
	if err := r.add(head...); err != nil {
		return err
	}
	colTotals := make([]int, len(partners))
	grand, grandNew := 0, 0
	for _, cat := range w.categories() {
		row := []any{Title(cat), cat}
		total := 0
		for i, p := range partners {
			n := info.Counts[cat][p]
			row = append(row, n)
			colTotals[i] += n
			total += n
		}
		row = append(row, total, info.NewByCategory[cat])
		var oldest time.Time
		if total > 0 {
			oldest = info.OldestByCategory[cat]
		}
		row = append(row, dateCell(oldest, loc, st))
		grand += total
		grandNew += info.NewByCategory[cat]
		if err := r.add(row...); err != nil {
			return err
		}
	}
	totals := []any{cellOf(st.total, LabelTotal), cellOf(st.total, "")}
	for _, n := range colTotals {
		totals = append(totals, cellOf(st.total, n))
	}
	totals = append(totals, cellOf(st.total, grand), cellOf(st.total, grandNew))
	if err := r.add(totals...); err != nil {
		return err
	}
	r.blank()

	// File conservation.
	if err := r.add(cellOf(st.section, "File conservation: rows in = every outcome added up")); err != nil {
		return err
	}
	head = nil // the rows are kept: a new slice, not the categories' header
	for i, c := range FileColumns {
		style := st.header
		if i >= 4 && i < len(FileColumns)-1 { // Rows in … Unfinished: counts
			style = st.headerNum
		}
		head = append(head, cellOf(style, c))
	}
	if err := r.add(head...); err != nil {
		return err
	}
	for _, fc := range w.d.Files {
		check := cellOf(st.good, Balanced)
		switch {
		case fc.Refused:
			check = cellOf(st.bad, Refused)
		case fc.Unread:
			check = cellOf(st.bad, Unread)
		case !fc.Balanced:
			check = cellOf(st.bad, NotBalanced)
			info.Unbalanced++
		}
		info.Files++
		if err := r.add(fc.Name, fc.Partner, dateCell(fc.ReceivedAt, loc, st), fc.Status, fc.RowsIn,
			fc.Submitted, fc.Rejected, fc.RejectedFlabs, fc.Duplicate, fc.Failed, fc.Held, fc.Skipped,
			fc.Unconfirmed, fc.Unfinished, check); err != nil {
			return err
		}
	}
	if len(w.d.Files) == 0 {
		if err := r.add(NoFiles); err != nil {
			return err
		}
	}
	r.blank()
	if err := r.add(LabelUnmapped, info.Unmapped); err != nil {
		return err
	}
	return r.add(LabelRejected, rejectedRows(w.d.Rejects))
}

// categories is every known category, then any unknown one seen.
func (w *workbook) categories() []reconcile.Category {
	cats := slices.Clone(reconcile.Categories)
	var extra []reconcile.Category
	for c := range w.info.Counts {
		if !slices.Contains(cats, c) {
			extra = append(extra, c)
		}
	}
	for _, s := range w.info.Sheets {
		if s.Category != "" && !slices.Contains(cats, s.Category) && !slices.Contains(extra, s.Category) {
			extra = append(extra, s.Category)
		}
	}
	slices.Sort(extra)
	return append(cats, extra...)
}

// partners is every partner with a count, sorted, "" last.
func (w *workbook) partners() []string {
	seen := map[string]bool{}
	for _, byPartner := range w.info.Counts {
		for p, n := range byPartner {
			if n > 0 {
				seen[p] = true
			}
		}
	}
	var ps []string
	for p := range seen {
		ps = append(ps, p)
	}
	slices.SortFunc(ps, func(a, b string) int {
		return cmp.Or(cmp.Compare(boolInt(a == ""), boolInt(b == "")), cmp.Compare(a, b))
	})
	return ps
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

func partnerLabel(p string) string {
	if p == "" {
		return NoPartner
	}
	return p
}

func rejectedRows(rs []reconcile.RejectFile) int {
	n := 0
	for _, r := range rs {
		n += len(r.Rows)
	}
	return n
}
