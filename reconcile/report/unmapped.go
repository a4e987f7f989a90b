package report

import (
	"github.com/flabsync/flabsync/mapping"
)

// writeReviewSheet writes the Unmapped sheet in the `mapping import`
// layout (mapping.ReviewColumns), styled and printed as the other sheets,
// so that ops can fill in IDs and run `flabsync mapping import --review`
// on the workbook itself.
func (w *workbook) writeReviewSheet(name string, rows []mapping.ReviewRow) error {
	return mapping.WriteReviewSheet(w.f, name, rows, mapping.ReviewSheetOptions{
		HeaderStyle: w.st.header,
		Before:      func() error { return fitToPage(w.f, name) },
		After:       func() error { return w.printSetup(name, true, 1) },
	})
}
