package report

import (
	"fmt"

	"github.com/xuri/excelize/v2"
)

// DateFormat is the number format of every date-and-time cell in the
// workbook; DayFormat that of a day (Snooze until).
const (
	DateFormat = "yyyy-mm-dd hh:mm"
	DayFormat  = "yyyy-mm-dd"
)

// styles are the workbook's cell styles, made once per file. Data cells
// sit at the top of their row, so a row whose Detail wraps reads across;
// the cells a person fills in are tinted.
type styles struct {
	header, headerNum, date, title, section, total, good, bad int
	text, number, wrap, input, inputDay, inputWrap, label     int
}

func newStyles(f *excelize.File) (styles, error) {
	var s styles
	border := []excelize.Border{{Type: "bottom", Color: "808080", Style: 1}}
	fill := excelize.Fill{Type: "pattern", Pattern: 1, Color: []string{"D9E1F2"}}
	inputFill := excelize.Fill{Type: "pattern", Pattern: 1, Color: []string{"FFF2CC"}}
	top := &excelize.Alignment{Vertical: "top"}
	wrap := &excelize.Alignment{Vertical: "top", WrapText: true}
	dateFmt, dayFmt := DateFormat, DayFormat
	defs := []struct {
		id    *int
		style excelize.Style
	}{
		{&s.header, excelize.Style{Font: &excelize.Font{Bold: true}, Fill: fill, Border: border,
			Alignment: &excelize.Alignment{Vertical: "center", WrapText: true}}},
		// A number column's header sits over its numbers: right.
		{&s.headerNum, excelize.Style{Font: &excelize.Font{Bold: true}, Fill: fill, Border: border,
			Alignment: &excelize.Alignment{Horizontal: "right", Vertical: "center", WrapText: true}}},
		{&s.date, excelize.Style{CustomNumFmt: &dateFmt, Alignment: top}},
		{&s.title, excelize.Style{Font: &excelize.Font{Bold: true, Size: 14}}},
		{&s.section, excelize.Style{Font: &excelize.Font{Bold: true, Size: 12}}},
		{&s.total, excelize.Style{Font: &excelize.Font{Bold: true},
			Border: []excelize.Border{{Type: "top", Color: "808080", Style: 1}}}},
		{&s.good, excelize.Style{Font: &excelize.Font{Bold: true, Color: "1E7B34"}}},
		{&s.bad, excelize.Style{Font: &excelize.Font{Bold: true, Color: "FFFFFF"},
			Fill: excelize.Fill{Type: "pattern", Pattern: 1, Color: []string{"C00000"}}}},
		{&s.text, excelize.Style{Alignment: top}},
		{&s.number, excelize.Style{NumFmt: 1, Alignment: top}},
		{&s.wrap, excelize.Style{Alignment: wrap}},
		{&s.input, excelize.Style{Fill: inputFill, Alignment: top}},
		{&s.inputDay, excelize.Style{Fill: inputFill, CustomNumFmt: &dayFmt, Alignment: top}},
		{&s.inputWrap, excelize.Style{Fill: inputFill, Alignment: wrap}},
		{&s.label, excelize.Style{Alignment: &excelize.Alignment{Vertical: "top", WrapText: true}}},
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
