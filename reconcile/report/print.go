package report

import (
	"fmt"
	"strings"

	"github.com/xuri/excelize/v2"
)

// The workbook prints: every sheet is scaled to one page wide (as many
// pages down as it needs), wide sheets lie in landscape, the header rows
// repeat on every page, and each page's footer says which run it is of,
// which sheet and which page.

// fitToPage turns on a sheet's fit-to-page property; it must be set before
// the sheet's stream writer starts (which writes the properties first).
func fitToPage(f *excelize.File, sheet string) error {
	on := true
	return f.SetSheetProps(sheet, &excelize.SheetPropsOptions{FitToPage: &on})
}

// printSetup sets the page of a sheet (after fitToPage, before its stream
// writer flushes): one page wide, landscape if wide, the first
// headerRows rows repeated on every page, narrow margins, and the footer.
func (w *workbook) printSetup(sheet string, landscape bool, headerRows int) error {
	orientation := "portrait"
	if landscape {
		orientation = "landscape"
	}
	one, any := 1, 0
	if err := w.f.SetPageLayout(sheet, &excelize.PageLayoutOptions{Orientation: &orientation, FitToWidth: &one, FitToHeight: &any}); err != nil {
		return fmt.Errorf("page layout: %w", err)
	}
	side, topBottom, edge := 0.4, 0.6, 0.3
	if err := w.f.SetPageMargins(sheet, &excelize.PageLayoutMarginsOptions{Left: &side, Right: &side, Top: &topBottom, Bottom: &topBottom,
		Header: &edge, Footer: &edge}); err != nil {
		return fmt.Errorf("page margins: %w", err)
	}
	// &A the sheet, &P the page, &N the pages; a literal & is &&.
	run := strings.ReplaceAll(w.d.At.In(w.d.location()).Format("2006-01-02 15:04 MST"), "&", "&&")
	if err := w.f.SetHeaderFooter(sheet, &excelize.HeaderFooterOptions{
		OddFooter: "&L&8flabsync exceptions, run of " + run + "&C&8&A&R&8page &P of &N",
	}); err != nil {
		return fmt.Errorf("footer: %w", err)
	}
	if headerRows > 0 {
		if err := w.f.SetDefinedName(&excelize.DefinedName{Name: "_xlnm.Print_Titles", Scope: sheet,
			RefersTo: fmt.Sprintf("%s!$1:$%d", quoteSheet(sheet), headerRows)}); err != nil {
			return fmt.Errorf("print titles: %w", err)
		}
	}
	return nil
}

// quoteSheet is a sheet name as a formula refers to it.
func quoteSheet(name string) string {
	return "'" + strings.ReplaceAll(name, "'", "''") + "'"
}
