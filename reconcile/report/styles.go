package report

import (
	"fmt"

	"github.com/xuri/excelize/v2"
)

// DateFormat is the number format of every date cell in the workbook.
const DateFormat = "yyyy-mm-dd hh:mm"

// styles are the workbook's cell styles, made once per file.
type styles struct {
	header, date, title, section, total, good, bad int
}

func newStyles(f *excelize.File) (styles, error) {
	var s styles
	border := []excelize.Border{{Type: "bottom", Color: "808080", Style: 1}}
	fill := excelize.Fill{Type: "pattern", Pattern: 1, Color: []string{"D9E1F2"}}
	dateFmt := DateFormat
	defs := []struct {
		id    *int
		style excelize.Style
	}{
		{&s.header, excelize.Style{Font: &excelize.Font{Bold: true}, Fill: fill, Border: border,
			Alignment: &excelize.Alignment{Vertical: "center"}}},
		{&s.date, excelize.Style{CustomNumFmt: &dateFmt}},
		{&s.title, excelize.Style{Font: &excelize.Font{Bold: true, Size: 14}}},
		{&s.section, excelize.Style{Font: &excelize.Font{Bold: true, Size: 12}}},
		{&s.total, excelize.Style{Font: &excelize.Font{Bold: true},
			Border: []excelize.Border{{Type: "top", Color: "808080", Style: 1}}}},
		{&s.good, excelize.Style{Font: &excelize.Font{Bold: true, Color: "1E7B34"}}},
		{&s.bad, excelize.Style{Font: &excelize.Font{Bold: true, Color: "FFFFFF"},
			Fill: excelize.Fill{Type: "pattern", Pattern: 1, Color: []string{"C00000"}}}},
	}
	for _, d := range defs {
		id, err := f.NewStyle(&d.style)
		if err != nil {
			return s, fmt.Errorf("workbook styles: %w", err)
		}
		*d.id = id
	}
	return s, nil
}
