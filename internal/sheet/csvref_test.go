package sheet_test

import (
	"bytes"
	"encoding/csv"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/flabsync/flabsync/internal/sheet"
)

// encodingCSV reads UTF-8 CSV text with encoding/csv as the sheet reader
// once did, numbering rows the same way, for comparison.
func encodingCSV(t *testing.T, data []byte) []sheet.GridRow {
	t.Helper()
	sample := data[:min(len(data), 64<<10)]
	cr := csv.NewReader(bytes.NewReader(data))
	cr.Comma = sheet.SniffDelimiter(sample)
	cr.FieldsPerRecord = -1
	cr.LazyQuotes = true
	var out []sheet.GridRow
	row, lastEnd := 0, 0
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatalf("encoding/csv: %v", err)
		}
		start, _ := cr.FieldPos(0)
		row += max(0, start-lastEnd-1) + 1
		endLine, _ := cr.FieldPos(len(rec) - 1)
		lastEnd = endLine + strings.Count(rec[len(rec)-1], "\n")
		out = append(out, sheet.GridRow{Row: row, Cells: rec})
	}
}
