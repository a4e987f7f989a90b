package mapping

import (
	"cmp"
	"fmt"
	"slices"

	"github.com/xuri/excelize/v2"
)

// Unmapped is a name that went to Flabs unmapped, as the partner wrote it.
type Unmapped struct {
	Partner string
	Kind    Kind
	Name    string
	Count   int // how many bookings carried it
}

// ReviewRow is one line of the review sheet: an unmapped name in the
// import layout, its target columns left empty for a person to fill in,
// and the suggestions beside it.
type ReviewRow struct {
	Line
	Count       int
	Suggestions []Suggestion
}

// ReviewColumns is the review sheet's header, in words a person reads:
// the import layout first (the table's Columns, named as reviewNames
// says), then what helps a person choose. `mapping import --review` reads
// the sheet back by these names, or by the table's own (as sheets written
// before said them), and ignores the extra columns.
var ReviewColumns = func() []string {
	cols := []string{"Partner", "Kind", "Name as written", "ID", "Flabs ID", "Bookings"}
	for i := 1; i <= MaxSuggestions; i++ {
		cols = append(cols, fmt.Sprintf("Suggestion %d", i), fmt.Sprintf("Suggestion %d ID", i),
			fmt.Sprintf("Suggestion %d score", i), fmt.Sprintf("Why suggestion %d", i))
	}
	return cols
}()

// reviewNames are the review sheet's headers that differ from the
// table's column they hold, as headerName writes both.
var reviewNames = map[string]string{
	"name_as_written": "local_name",
}

// columnOf is the table column a header cell names ("" for none): the
// table's own names in any case and spacing ("Local Name"), or the
// review sheet's.
func columnOf(cell string) string {
	h := headerName(cell)
	if c, ok := reviewNames[h]; ok {
		h = c
	}
	for _, want := range Columns {
		if h == want {
			return h
		}
	}
	return ""
}

// reviewWidths are the review sheet's column widths, in characters, in
// ReviewColumns' order (a suggestion's four repeat).
var reviewWidths = []float64{14, 9, 30, 26, 12, 10}

var suggestionWidths = []float64{30, 26, 10, 44}

// ReviewSheetOptions lets a caller style the review sheet as the rest of
// its workbook.
type ReviewSheetOptions struct {
	// HeaderStyle is the header row's style; 0 makes a bold one.
	HeaderStyle int
	// Before runs once the sheet exists, before its rows stream (for the
	// sheet's properties); After once every row is written, before the
	// sheet is flushed (for page setup). Either may be nil.
	Before, After func() error
}

// Review turns unmapped names into review rows with suggestions, the
// most frequent first. Names are merged by partner, kind and key; the
// first spelling seen is kept.
func Review(ix *Index, us []Unmapped) []ReviewRow {
	type id struct {
		partner string
		kind    Kind
		key     string
	}
	at := map[id]int{}
	var rows []ReviewRow
	for _, u := range us {
		k := id{u.Partner, u.Kind, Key(u.Name)}
		if k.key == "" {
			continue
		}
		if i, ok := at[k]; ok {
			rows[i].Count += max(1, u.Count)
			continue
		}
		at[k] = len(rows)
		rows = append(rows, ReviewRow{Line: Line{Partner: u.Partner, Kind: string(u.Kind), LocalName: u.Name}, Count: max(1, u.Count)})
	}
	for i := range rows {
		rows[i].Suggestions = ix.Suggest(Kind(rows[i].Kind), rows[i].LocalName)
	}
	slices.SortStableFunc(rows, func(a, b ReviewRow) int {
		return cmp.Or(cmp.Compare(b.Count, a.Count), cmp.Compare(a.Partner, b.Partner), cmp.Compare(a.LocalName, b.LocalName))
	})
	return rows
}

// WriteReviewSheet writes rows as a sheet named name in f (creating it),
// header first (bold and frozen), with a stream writer. Cells are plain
// strings and numbers: nothing a partner wrote can become a formula.
func WriteReviewSheet(f *excelize.File, name string, rows []ReviewRow, opts ...ReviewSheetOptions) error {
	var o ReviewSheetOptions
	if len(opts) > 0 {
		o = opts[0]
	}
	if _, err := f.NewSheet(name); err != nil {
		return fmt.Errorf("review sheet: %w", err)
	}
	if o.Before != nil {
		if err := o.Before(); err != nil {
			return fmt.Errorf("review sheet: %w", err)
		}
	}
	if o.HeaderStyle == 0 {
		style, err := f.NewStyle(&excelize.Style{Font: &excelize.Font{Bold: true},
			Fill:      excelize.Fill{Type: "pattern", Pattern: 1, Color: []string{"D9E1F2"}},
			Border:    []excelize.Border{{Type: "bottom", Color: "808080", Style: 1}},
			Alignment: &excelize.Alignment{Vertical: "center", WrapText: true}})
		if err != nil {
			return fmt.Errorf("review sheet: %w", err)
		}
		o.HeaderStyle = style
	}
	sw, err := f.NewStreamWriter(name)
	if err != nil {
		return fmt.Errorf("review sheet: %w", err)
	}
	for i := range ReviewColumns {
		width := 0.0
		if i < len(reviewWidths) {
			width = reviewWidths[i]
		} else {
			width = suggestionWidths[(i-len(reviewWidths))%len(suggestionWidths)]
		}
		if err := sw.SetColWidth(i+1, i+1, width); err != nil {
			return fmt.Errorf("review sheet: %w", err)
		}
	}
	if err := sw.SetPanes(&excelize.Panes{Freeze: true, YSplit: 1, TopLeftCell: "A2", ActivePane: "bottomLeft",
		Selection: []excelize.Selection{{SQRef: "A2", ActiveCell: "A2", Pane: "bottomLeft"}}}); err != nil {
		return fmt.Errorf("review sheet: %w", err)
	}
	header := make([]any, len(ReviewColumns))
	for i, c := range ReviewColumns {
		header[i] = excelize.Cell{StyleID: o.HeaderStyle, Value: c}
	}
	if err := sw.SetRow("A1", header); err != nil {
		return fmt.Errorf("review sheet: %w", err)
	}
	for i, r := range rows {
		cells := []any{r.Partner, r.Kind, r.LocalName, r.ID, r.FlabsID, r.Count}
		for _, s := range r.Suggestions {
			cells = append(cells, s.Name, s.Target, s.Score, s.Reason)
		}
		cell, _ := excelize.CoordinatesToCellName(1, i+2)
		if err := sw.SetRow(cell, cells); err != nil {
			return fmt.Errorf("review sheet row %d: %w", i+2, err)
		}
	}
	if o.After != nil {
		if err := o.After(); err != nil {
			return fmt.Errorf("review sheet: %w", err)
		}
	}
	if err := sw.Flush(); err != nil {
		return fmt.Errorf("review sheet: %w", err)
	}
	return nil
}
