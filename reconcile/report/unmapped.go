package report

import (
	"github.com/xuri/excelize/v2"

	"github.com/flabsync/flabsync/mapping"
)

// writeReviewSheet writes the Unmapped sheet in the `mapping import`
// layout (mapping.ReviewColumns), so that ops can fill in IDs and run
// `flabsync mapping import --review` on the workbook itself.
func writeReviewSheet(f *excelize.File, name string, rows []mapping.ReviewRow) error {
	return mapping.WriteReviewSheet(f, name, rows)
}
