package report

import (
	"fmt"
	"time"

	"github.com/xuri/excelize/v2"

	"github.com/flabsync/flabsync/reconcile"
)

// ExceptionColumns is the header of every category sheet. The last two
// are a person's: Action (close, snooze YYYY-MM-DD, reopen) and Note,
// which `flabsync exceptions import` applies (ReadDecisions).
var ExceptionColumns = []string{"ID", "Status", "Age", "Partner", "File", "Row", "Integrator ID",
	"First seen", "Last seen", "Detail", "Suggested action", ColumnAction, ColumnNote}

// The columns a person fills in.
const (
	ColumnAction = "Action"
	ColumnNote   = "Note"
)

// exceptionWidths are the column widths, in characters, of a category sheet.
var exceptionWidths = []float64{20, 10, 9, 16, 30, 7, 28, 17, 17, 70, 50, 20, 40}

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
		if err := cur.add(e, w.d.location()); err != nil {
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
}

// categorySheet is the sheet being streamed.
type categorySheet struct {
	category reconcile.Category
	name     string
	sw       *excelize.StreamWriter
	st       styles
	rows     int
	cells    []any // reused for every row
}

func (w *workbook) startSheet(category reconcile.Category) (*categorySheet, error) {
	name := w.sheetName(Title(category))
	if _, err := w.f.NewSheet(name); err != nil {
		return nil, fmt.Errorf("sheet %q: %w", name, err)
	}
	sw, err := w.f.NewStreamWriter(name)
	if err != nil {
		return nil, fmt.Errorf("sheet %q: %w", name, err)
	}
	cs := &categorySheet{category: category, name: name, sw: sw, st: w.st, cells: make([]any, len(ExceptionColumns))}
	if err := cs.begin(); err != nil {
		return nil, fmt.Errorf("sheet %q: %w", name, err)
	}
	return cs, nil
}

// begin sets widths and the frozen header; both must precede the rows.
func (cs *categorySheet) begin() error {
	for i, width := range exceptionWidths {
		if err := cs.sw.SetColWidth(i+1, i+1, width); err != nil {
			return err
		}
	}
	if err := cs.sw.SetPanes(frozenHeader()); err != nil {
		return err
	}
	return headerRow(cs.sw, cs.st, ExceptionColumns)
}

func (cs *categorySheet) add(e reconcile.Exception, loc *time.Location) error {
	c := cs.cells
	// Every text cell is a plain string: excelize writes it as an inline
	// string, so "=HYPERLINK(…)" from a partner stays text.
	c[0], c[1], c[2], c[3], c[4] = e.ID, e.Status, e.AgeBucket, e.Partner, e.File
	c[5] = nil
	if e.Row > 0 {
		c[5] = e.Row
	}
	c[6] = e.IntegratorID
	c[7], c[8] = dateCell(e.FirstSeen, loc, cs.st), dateCell(e.LastSeen, loc, cs.st)
	c[9], c[10] = reconcile.ShownDetail(e.Category, e.Detail), e.SuggestedAction // no patient's cell in a mailed workbook
	c[11], c[12] = nil, nil                                                      // Action: a person's to fill in
	if e.Note != "" {
		c[12] = e.Note // the earlier note, shown when a closed exception comes back
	}
	cs.rows++
	cell, _ := excelize.CoordinatesToCellName(1, cs.rows+1)
	if err := cs.sw.SetRow(cell, c); err != nil {
		return fmt.Errorf("sheet %q row %d: %w", cs.name, cs.rows+1, err)
	}
	return nil
}

// endSheet puts the autofilter over the data, flushes the sheet (excelize
// needs one sheet flushed before the next starts) and records it.
func (w *workbook) endSheet(cs *categorySheet) error {
	last, _ := excelize.CoordinatesToCellName(len(ExceptionColumns), cs.rows+1)
	if err := w.f.AutoFilter(cs.name, "A1:"+last, nil); err != nil {
		return fmt.Errorf("sheet %q: autofilter: %w", cs.name, err)
	}
	if err := cs.sw.Flush(); err != nil {
		return fmt.Errorf("sheet %q: %w", cs.name, err)
	}
	w.info.Sheets = append(w.info.Sheets, SheetInfo{Name: cs.name, Category: cs.category, Rows: cs.rows})
	return nil
}

// dateCell is a real date cell in loc's wall time, or an empty cell.
func dateCell(t time.Time, loc *time.Location, st styles) any {
	if t.IsZero() {
		return nil
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
