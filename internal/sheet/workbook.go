package sheet

import (
	"archive/zip"
	"fmt"
	"io"

	"github.com/xuri/excelize/v2"
)

// Bounds of OpenWorkbook, for workbooks a caller reads with excelize
// whole (a few thousand rows of ops' decisions, not a partner's sheet).
const (
	// MaxOpenedWorkbook is the largest file OpenWorkbook opens: excelize
	// holds it in memory while it reads.
	MaxOpenedWorkbook = 64 << 20
	// maxOpenedTexts bounds the texts of its shared-strings table, which
	// excelize holds whole (a few hundred bytes each).
	maxOpenedTexts = 1 << 18
)

// OpenWorkbook opens the XLSX at path for a caller that reads it with
// excelize itself — ops' workbooks coming back through `flabsync
// exceptions import` — through the same guard as every file from
// outside: a regular file only (a FIFO, device, directory or link is
// refused without being opened, and nothing blocks), at most
// MaxOpenedWorkbook, the sizes its zip declares within what it may unpack
// to (maxUnzip, 0: DefaultMaxUnzipSize; MaxUnzipRatio times its size),
// and, because excelize unpacks every part and holds its shared strings
// whole, every part streamed through the bounds before excelize sees it
// (tokens, shared strings, cells, rows, damaged XML). The workbook is read
// from the descriptor that was checked, never opened again by name.
//
// Errors do not name the file (the caller does). They wrap ErrRefused (a
// *LimitError among them); a file that is not a zip at all also wraps
// zip.ErrFormat. The caller closes the *excelize.File.
func OpenWorkbook(path string, maxUnzip int64) (*excelize.File, error) {
	f, st, err := openFile(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if st.Size() > MaxOpenedWorkbook {
		return nil, &LimitError{What: "workbook file", Size: st.Size(), Limit: MaxOpenedWorkbook,
			Hint: "a workbook of decisions is far smaller: save only its sheets of exceptions"}
	}
	zr, err := zip.NewReader(f, st.Size())
	if err != nil {
		return nil, fmt.Errorf("%w: the workbook cannot be opened (%w); open it in Excel, save it again as .xlsx", ErrRefused, err)
	}
	budget, err := checkXLSX(zr, st.Size(), maxUnzip, maxOpenedTexts)
	if err != nil {
		return nil, err
	}
	opts := excelizeOptions()
	opts.UnzipSizeLimit = budget
	opts.UnzipXMLSizeLimit = min(xmlInMemory, budget)
	x, err := excelize.OpenReader(io.NewSectionReader(f, 0, st.Size()), opts)
	if err != nil {
		if x != nil {
			x.Close()
		}
		return nil, fmt.Errorf("%w: the workbook cannot be opened (%v); open it in Excel and save it again as .xlsx", ErrRefused, err)
	}
	return x, nil
}
