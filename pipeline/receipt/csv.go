package receipt

import (
	"bufio"
	"encoding/csv"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/flabsync/flabsync/internal/csvsafe"
	"github.com/flabsync/flabsync/pipeline/ledger"
)

// The CSV attachment's columns.
var csvHeader = []string{"Row", "Booking reference", "Reason"}

// CSVName is the attachment's name for a file: sunrise_2026-11-24.csv →
// sunrise_2026-11-24_rejected.csv.
func CSVName(file string) string {
	return safeName(strings.TrimSuffix(file, filepath.Ext(file))) + "_rejected.csv"
}

// writeCSV writes rows to path: the row number, the booking reference and
// the reason, one line a row. Cells are formula-escaped (a cell starting
// with = + - @ gets an apostrophe, as the partners' reject files do); the
// file is UTF-8 with a BOM so that Excel reads it right, readable by its
// owner only (the reasons may quote the clinic's cells).
func writeCSV(path string, rows []ledger.ReturnedRow) (err error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("receipt csv: %w", err)
	}
	defer func() {
		if cerr := f.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("receipt csv: %w", cerr)
		}
	}()
	bw := bufio.NewWriter(f)
	bw.WriteString("\uFEFF")
	cw := csv.NewWriter(bw)
	cw.UseCRLF = true
	if err := cw.Write(csvHeader); err != nil {
		return fmt.Errorf("receipt csv: %w", err)
	}
	for _, r := range rows {
		reason := r.Reason
		if r.Code == ledger.CodeFlabsRefused {
			reason = "refused by the lab system: " + reason
		}
		rec := []string{strconv.Itoa(r.Row), csvsafe.Escape(r.Ref), csvsafe.Escape(reason)}
		if err := cw.Write(rec); err != nil {
			return fmt.Errorf("receipt csv: %w", err)
		}
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return fmt.Errorf("receipt csv: %w", err)
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("receipt csv: %w", err)
	}
	return nil
}

// safeName makes a clinic's file name usable as part of a file name.
func safeName(s string) string {
	s = strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_', r == '.':
			return r
		}
		return '_'
	}, s)
	if s = strings.Trim(s, "."); s == "" {
		return "file"
	}
	return s
}
