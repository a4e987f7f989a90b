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

// ReviewColumns is the review sheet's header: the import layout first,
// then what helps a person choose. `mapping import --review` reads the
// sheet back and ignores the extra columns.
var ReviewColumns = func() []string {
	cols := append([]string{}, Columns...)
	cols = append(cols, "bookings")
	for i := 1; i <= MaxSuggestions; i++ {
		cols = append(cols, fmt.Sprintf("suggestion_%d", i), fmt.Sprintf("suggestion_%d_id", i),
			fmt.Sprintf("suggestion_%d_score", i), fmt.Sprintf("suggestion_%d_reason", i))
	}
	return cols
}()

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
// header first, with a stream writer. Cells are plain strings and numbers:
// nothing a partner wrote can become a formula.
func WriteReviewSheet(f *excelize.File, name string, rows []ReviewRow) error {
	if _, err := f.NewSheet(name); err != nil {
		return fmt.Errorf("review sheet: %w", err)
	}
	sw, err := f.NewStreamWriter(name)
	if err != nil {
		return fmt.Errorf("review sheet: %w", err)
	}
	header := make([]any, len(ReviewColumns))
	for i, c := range ReviewColumns {
		header[i] = c
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
	if err := sw.Flush(); err != nil {
		return fmt.Errorf("review sheet: %w", err)
	}
	return nil
}
