package report

import (
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/xuri/excelize/v2"

	"github.com/flabsync/flabsync/reconcile"
)

// ExceptionColumns is the header of every category sheet. Action, Snooze
// until and Note are a person's: Action offers close, snooze and reopen
// as a list (snooze takes its day from Snooze until, or is written
// "snooze YYYY-MM-DD"), and `flabsync exceptions import` applies them
// (ReadDecisions). Fingerprint is hidden: what the decision is checked
// against (reconcile.Fingerprint).
var ExceptionColumns = []string{ColumnID, "Status", "Age", ColumnSince, ColumnPartner, "File", ColumnRow, "Integrator ID",
	ColumnDetail, "Suggested action", ColumnAction, ColumnSnoozeUntil, ColumnNote, "First seen", ColumnFingerprint}

// The columns ReadDecisions reads and tests look for.
const (
	ColumnID          = "ID"
	ColumnSince       = "Since"
	ColumnPartner     = "Partner"
	ColumnRow         = "Row"
	ColumnDetail      = "Detail"
	ColumnAction      = "Action"
	ColumnSnoozeUntil = "Snooze until"
	ColumnNote        = "Note"
	ColumnFingerprint = "Fingerprint"
)

// column is one category-sheet column's width: fixed, or fitted to its
// content between min and max.
type column struct {
	width, max float64
	fit        bool
}

// exceptionCols are the category sheet's columns, in ExceptionColumns'
// order. Widths are in characters; fitted ones grow with the content of
// the first rows (an ID is never cut).
var exceptionCols = []column{
	{width: 12, max: 120, fit: true}, // ID
	{width: 9},                       // Status
	{width: 8},                       // Age
	{width: 18},                      // Since
	{width: 10, max: 24, fit: true},  // Partner
	{width: 8, max: 36, fit: true},   // File
	{width: 6},                       // Row
	{width: 15, max: 40, fit: true},  // Integrator ID
	{width: 48},                      // Detail (wraps)
	{width: 42},                      // Suggested action (wraps)
	{width: 10},                      // Action
	{width: 13},                      // Snooze until
	{width: 34},                      // Note (wraps)
	{width: 17},                      // First seen
	{width: 22},                      // Fingerprint (hidden)
}

// The positions (0-based) of the columns the writer treats apart.
const (
	colID, colStatus, colAge, colSince, colPartner, colFile, colRow, colIntegrator = 0, 1, 2, 3, 4, 5, 6, 7
	colDetail, colSuggested, colAction, colSnooze, colNote, colFirstSeen, colPrint = 8, 9, 10, 11, 12, 13, 14
)

// ActionChoices are what the Action column's list offers.
var ActionChoices = []string{string(reconcile.ActionClose), string(reconcile.ActionSnooze), string(reconcile.ActionReopen)}

// fitRows is how many rows a category sheet holds back to size its
// columns before it streams them (and every row after).
const fitRows = 2000

// maxDataRows is how many exceptions fit on one sheet under its header.
var maxDataRows = excelize.TotalRows - 1

// writeExceptions streams d.Exceptions into one sheet per category.
func (w *workbook) writeExceptions() error {
	if w.d.Exceptions == nil {
		return nil
	}
	var (
		cur  *categorySheet
		done = map[reconcile.Category]bool{}
	)
	for e, err := range w.d.Exceptions {
		if err != nil {
			return fmt.Errorf("exceptions: %w", err)
		}
		if cur == nil || cur.category != e.Category || cur.rows == maxDataRows {
			if cur != nil {
				if err := w.endSheet(cur); err != nil {
					return err
				}
				if cur.category != e.Category {
					done[cur.category] = true
				}
			}
			if done[e.Category] {
				return fmt.Errorf("%w: %q again after other categories", ErrUnsorted, e.Category)
			}
			var err error
			if cur, err = w.startSheet(e.Category); err != nil {
				return err
			}
		}
		if err := cur.add(e); err != nil {
			return err
		}
		w.count(e)
	}
	if cur != nil {
		return w.endSheet(cur)
	}
	return nil
}

func (w *workbook) count(e reconcile.Exception) {
	w.info.Exceptions++
	switch e.Status {
	case reconcile.StatusNew:
		w.info.New++
		w.info.NewByCategory[e.Category]++
	case reconcile.StatusOpen:
		w.info.Open++
	default:
		return
	}
	byPartner := w.info.Counts[e.Category]
	if byPartner == nil {
		byPartner = map[string]int{}
		w.info.Counts[e.Category] = byPartner
	}
	byPartner[e.Partner]++
	since := e.Since
	if since.IsZero() {
		since = e.FirstSeen
	}
	if old, ok := w.info.OldestByCategory[e.Category]; !since.IsZero() && (!ok || since.Before(old)) {
		w.info.OldestByCategory[e.Category] = since
	}
}

// categorySheet is the sheet being streamed. Its first fitRows rows are
// held back until the columns are sized to them.
type categorySheet struct {
	category reconcile.Category
	name     string
	w        *workbook
	sw       *excelize.StreamWriter
	rows     int
	held     []reconcile.Exception // rows not yet written, while sizing
	begun    bool
	widths   []float64 // the columns' widths, once begun
	cells    []any     // reused for every row
}

func (w *workbook) startSheet(category reconcile.Category) (*categorySheet, error) {
	name := w.sheetName(Title(category))
	if _, err := w.f.NewSheet(name); err != nil {
		return nil, fmt.Errorf("sheet %q: %w", name, err)
	}
	// Fit-to-page lives in the sheet's properties, which the stream
	// writer writes as it starts.
	if err := fitToPage(w.f, name); err != nil {
		return nil, fmt.Errorf("sheet %q: %w", name, err)
	}
	sw, err := w.f.NewStreamWriter(name)
	if err != nil {
		return nil, fmt.Errorf("sheet %q: %w", name, err)
	}
	return &categorySheet{category: category, name: name, w: w, sw: sw, cells: make([]any, len(ExceptionColumns))}, nil
}

func (cs *categorySheet) add(e reconcile.Exception) error {
	cs.rows++
	if !cs.begun {
		cs.held = append(cs.held, e)
		if len(cs.held) < fitRows {
			return nil
		}
		return cs.begin()
	}
	return cs.write(cs.rows+1, e)
}

// begin sizes the columns to the rows held back, sets the frozen header
// and hidden Fingerprint column (all must precede the rows), then writes
// the rows held.
func (cs *categorySheet) begin() error {
	cs.begun = true
	widths := make([]float64, len(exceptionCols))
	for i, c := range exceptionCols {
		widths[i] = c.width
		if !c.fit {
			continue
		}
		widths[i] = max(c.width, float64(utf8.RuneCountInString(ExceptionColumns[i]))+3)
	}
	for _, e := range cs.held {
		for i, v := range [...]string{colID: e.ID, colPartner: e.Partner, colFile: e.File, colIntegrator: e.IntegratorID} {
			if exceptionCols[i].fit {
				widths[i] = max(widths[i], min(exceptionCols[i].max, textWidth(v)))
			}
		}
	}
	cs.widths = widths
	for i, width := range widths {
		if err := cs.sw.SetColWidth(i+1, i+1, width); err != nil {
			return fmt.Errorf("sheet %q: %w", cs.name, err)
		}
	}
	if err := cs.sw.SetColVisible(colPrint+1, colPrint+1, false); err != nil {
		return fmt.Errorf("sheet %q: %w", cs.name, err)
	}
	// The columns a person fills in are tinted, Snooze until formatted as
	// a day, Note wrapped: set on the columns, so that the empty cells of
	// a million rows need not be written one by one.
	for col, style := range map[int]int{colAction: cs.w.st.input, colSnooze: cs.w.st.inputDay, colNote: cs.w.st.inputWrap} {
		if err := cs.sw.SetColStyle(col+1, col+1, style); err != nil {
			return fmt.Errorf("sheet %q: %w", cs.name, err)
		}
	}
	if err := cs.sw.SetPanes(frozenHeader()); err != nil {
		return fmt.Errorf("sheet %q: %w", cs.name, err)
	}
	if err := headerRow(cs.sw, cs.w.st, ExceptionColumns); err != nil {
		return fmt.Errorf("sheet %q: %w", cs.name, err)
	}
	for i, e := range cs.held {
		if err := cs.write(i+2, e); err != nil {
			return err
		}
	}
	cs.held = nil
	return nil
}

// textWidth is the column width, in characters, that shows s whole.
func textWidth(s string) float64 {
	return float64(utf8.RuneCountInString(s)) + 2
}

func (cs *categorySheet) write(row int, e reconcile.Exception) error {
	c, st, loc := cs.cells, cs.w.st, cs.w.d.location()
	text := func(v string) excelize.Cell { return excelize.Cell{StyleID: st.text, Value: v} }
	// Every text cell is a plain string: excelize writes it as an inline
	// string, so "=HYPERLINK(…)" from a partner stays text.
	c[colID], c[colStatus], c[colAge], c[colPartner], c[colFile] = text(e.ID), text(string(e.Status)), text(e.AgeBucket), text(e.Partner), text(e.File)
	c[colRow] = excelize.Cell{StyleID: st.number}
	if e.Row > 0 {
		c[colRow] = excelize.Cell{StyleID: st.number, Value: e.Row}
	}
	since := e.Since
	if since.IsZero() {
		since = e.FirstSeen
	}
	c[colSince], c[colFirstSeen] = dateCell(since, loc, st), dateCell(e.FirstSeen, loc, st)
	c[colIntegrator] = text(e.IntegratorID)
	// No patient's cell in a mailed workbook: ShownDetail elides them,
	// and the cell says where they are.
	c[colDetail] = excelize.Cell{StyleID: st.wrap, Value: cs.w.shownDetail(e)}
	c[colSuggested] = excelize.Cell{StyleID: st.wrap, Value: e.SuggestedAction}
	// A person's to fill in (styled by their columns); the earlier note
	// is shown when a closed exception comes back.
	c[colAction], c[colSnooze], c[colNote] = nil, nil, nil
	if e.Note != "" {
		c[colNote] = excelize.Cell{StyleID: st.inputWrap, Value: e.Note}
	}
	c[colPrint] = excelize.Cell{StyleID: st.text, Value: reconcile.Fingerprint(e.ID, reconcile.ShownDetail(e.Category, e.Detail), e.FirstSeen)}
	// The row is as tall as its longest wrapped text: neither Excel nor
	// every LibreOffice sizes a written row to its wrapped cells.
	lines := 1
	for _, i := range []int{colDetail, colSuggested, colNote} {
		cell, _ := c[i].(excelize.Cell)
		v, _ := cell.Value.(string)
		lines = max(lines, wrappedLines(v, cs.widths[i]))
	}
	var opts []excelize.RowOpts
	if lines > 1 {
		opts = append(opts, excelize.RowOpts{Height: float64(lines) * lineHeight})
	}
	cell, _ := excelize.CoordinatesToCellName(1, row)
	if err := cs.sw.SetRow(cell, c, opts...); err != nil {
		return fmt.Errorf("sheet %q row %d: %w", cs.name, row, err)
	}
	return nil
}

// lineHeight is the height, in points, of a line of the default font.
const lineHeight = 15

// wrappedLines is about how many lines s takes in a column width wide,
// wrapped at spaces (a little more rather than less: a cut line hides
// words).
func wrappedLines(s string, width float64) int {
	if s == "" {
		return 1
	}
	perLine := max(1, int(width)-2)
	lines := 0
	for _, para := range strings.Split(s, "\n") {
		n, at := 1, 0
		for _, word := range strings.Fields(para) {
			w := utf8.RuneCountInString(word)
			switch {
			case at == 0:
				at = w
			case at+1+w <= perLine:
				at += 1 + w
			default:
				n++
				at = w
			}
			for at > perLine { // a word longer than the line
				n++
				at -= perLine
			}
		}
		lines += n
	}
	return lines
}

// shownDetail is e's detail as the workbook shows it: a value elided
// as "…" is said to be the clinic's, and a rejected row's to be in the
// partner's reject file of the run's day.
func (w *workbook) shownDetail(e reconcile.Exception) string {
	d := reconcile.ShownDetail(e.Category, e.Detail)
	if !strings.Contains(d, `"…"`) {
		return d
	}
	if e.Category != reconcile.CategoryRejectedRow {
		return d + " (… is the clinic's value, left out of this workbook)"
	}
	where := "the partner's reject file"
	if e.Partner != "" {
		where = rejectFileName(e.Partner, w.d.At.In(w.d.location()))
	}
	return d + " (… is the clinic's value, left out of this workbook: it is in " + where + ")"
}

// endSheet writes what is held back, puts the autofilter over the data,
// the Action list and the Snooze until day check on the decision columns
// and the print settings, flushes the sheet (excelize needs one sheet
// flushed before the next starts) and records it.
func (w *workbook) endSheet(cs *categorySheet) error {
	if !cs.begun {
		if err := cs.begin(); err != nil {
			return err
		}
	}
	last, _ := excelize.CoordinatesToCellName(len(ExceptionColumns), cs.rows+1)
	if err := w.f.AutoFilter(cs.name, "A1:"+last, nil); err != nil {
		return fmt.Errorf("sheet %q: autofilter: %w", cs.name, err)
	}
	if err := w.decisionChecks(cs.name, cs.rows); err != nil {
		return fmt.Errorf("sheet %q: %w", cs.name, err)
	}
	if err := w.printSetup(cs.name, true, 1); err != nil {
		return fmt.Errorf("sheet %q: %w", cs.name, err)
	}
	if err := cs.sw.Flush(); err != nil {
		return fmt.Errorf("sheet %q: %w", cs.name, err)
	}
	w.info.Sheets = append(w.info.Sheets, SheetInfo{Name: cs.name, Category: cs.category, Rows: cs.rows})
	return nil
}

// decisionChecks offers the Action column's choices as a list, with a
// message saying what each does, and takes only a day after the run in
// Snooze until.
func (w *workbook) decisionChecks(sheet string, rows int) error {
	col := func(i int) string {
		name, _ := excelize.ColumnNumberToName(i + 1)
		return fmt.Sprintf("%[1]s2:%[1]s%[2]d", name, rows+1)
	}
	action := excelize.NewDataValidation(true)
	action.Sqref = col(colAction)
	if err := action.SetDropList(ActionChoices); err != nil {
		return err
	}
	action.SetInput("Your decision", "close: settled (say why in Note). snooze: hidden until the day in Snooze until. reopen: open again. Then run flabsync exceptions import on this file.")
	action.SetError(excelize.DataValidationErrorStyleStop, "Not an action", "Choose close, snooze or reopen from the list (the day of a snooze goes in Snooze until).")
	if err := w.f.AddDataValidation(sheet, action); err != nil {
		return err
	}
	// Excel keeps a day as the days since 1899-12-30; the first day
	// allowed is the one after the run's.
	at := w.d.At.In(w.d.location())
	runDay := time.Date(at.Year(), at.Month(), at.Day(), 0, 0, 0, 0, time.UTC)
	day := excelize.NewDataValidation(true)
	day.Sqref = col(colSnooze)
	day.Type = "date"
	day.Operator = "greaterThan"
	day.Formula1 = fmt.Sprint(int(runDay.Sub(time.Date(1899, 12, 30, 0, 0, 0, 0, time.UTC)).Hours() / 24))
	day.SetInput(ColumnSnoozeUntil, "With snooze in Action: the day it comes back, after "+at.Format(time.DateOnly)+" (YYYY-MM-DD).")
	day.SetError(excelize.DataValidationErrorStyleStop, "Not a day to come back", "Give a day after "+at.Format(time.DateOnly)+", as YYYY-MM-DD.")
	return w.f.AddDataValidation(sheet, day)
}

// dateCell is a real date cell in loc's wall time, or an empty cell.
func dateCell(t time.Time, loc *time.Location, st styles) any {
	if t.IsZero() {
		return excelize.Cell{StyleID: st.date}
	}
	return excelize.Cell{StyleID: st.date, Value: t.In(loc)}
}

func frozenHeader() *excelize.Panes {
	return &excelize.Panes{Freeze: true, YSplit: 1, TopLeftCell: "A2", ActivePane: "bottomLeft",
		Selection: []excelize.Selection{{SQRef: "A2", ActiveCell: "A2", Pane: "bottomLeft"}}}
}

// headerRow writes names as the styled first row.
func headerRow(sw *excelize.StreamWriter, st styles, names []string) error {
	row := make([]any, len(names))
	for i, n := range names {
		row[i] = excelize.Cell{StyleID: st.header, Value: n}
	}
	return sw.SetRow("A1", row)
}
