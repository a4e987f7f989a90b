package report

import (
	"archive/zip"
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/xuri/excelize/v2"

	"github.com/flabsync/flabsync/reconcile"
)

// The fixed sheet names.
const (
	SummarySheet  = "Summary"
	UnmappedSheet = "Unmapped"
)

// WorkbookInfo says what WriteWorkbook wrote: the sheets in order with
// their row counts, and the figures the Summary sheet shows (which the
// digest repeats).
type WorkbookInfo struct {
	Path   string
	Sheets []SheetInfo // in workbook order, Summary first

	// Counts is category → partner → new and open exceptions written.
	Counts map[reconcile.Category]map[string]int
	// NewByCategory is category → exceptions first seen in this run.
	NewByCategory map[reconcile.Category]int
	// OldestByCategory is category → when the oldest of its new and open
	// exceptions happened (reconcile.Exception.Since).
	OldestByCategory map[reconcile.Category]time.Time
	// New and Open are the exceptions written with those statuses;
	// Resolved is Data.Resolved.
	New, Open, Resolved int
	// Exceptions is every exception row written, whatever its status.
	Exceptions int
	// Unmapped is the rows of the Unmapped sheet; Files and Unbalanced
	// count the conservation checks and those that did not balance.
	Unmapped, Files, Unbalanced int
}

// SheetInfo is one sheet of the workbook.
type SheetInfo struct {
	Name     string
	Category reconcile.Category // "" for Summary and Unmapped
	Rows     int                // data rows below the header
}

// Sheet returns the sheet called name.
func (i WorkbookInfo) Sheet(name string) (SheetInfo, bool) {
	for _, s := range i.Sheets {
		if s.Name == name {
			return s, true
		}
	}
	return SheetInfo{}, false
}

// WriteWorkbook writes the exception workbook to path: Summary first,
// then one sheet per category that has exceptions (in the order they
// stream), then Unmapped in the `mapping import` layout. Every sheet is
// written with an excelize stream writer, so memory does not grow with
// the number of exceptions; a category past Excel's row limit continues
// on a sheet "<title> 2". The file is written beside path and renamed
// into place, so a failed run never leaves half a workbook.
func WriteWorkbook(path string, d *Data) (WorkbookInfo, error) {
	info, err := writeWorkbook(path, d)
	if err != nil {
		return WorkbookInfo{}, fmt.Errorf("workbook %s: %w", filepath.Base(path), err)
	}
	return info, nil
}

func writeWorkbook(path string, d *Data) (WorkbookInfo, error) {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	tmp, err := os.CreateTemp(dir, "."+base+".*.tmp")
	if err != nil {
		return WorkbookInfo{}, err
	}
	defer os.Remove(tmp.Name()) // after a successful rename this finds nothing
	defer tmp.Close()

	f := excelize.NewFile(excelize.Options{TmpDir: dir})
	defer f.Close()
	w, err := newWorkbook(f, d)
	if err != nil {
		return WorkbookInfo{}, err
	}
	if err := w.write(); err != nil {
		return WorkbookInfo{}, err
	}
	bw := bufio.NewWriterSize(tmp, 1<<20)
	// excelize's WriteTo builds the whole zip in a bytes.Buffer first;
	// handing it a zip writer on the file streams it there instead (the
	// buffer it passes stays empty).
	zw := zip.NewWriter(bw)
	f.SetZipWriter(func(io.Writer) excelize.ZipWriter { return zw })
	if _, err := f.WriteTo(io.Discard); err != nil {
		return WorkbookInfo{}, fmt.Errorf("save: %w", err)
	}
	if err := bw.Flush(); err != nil {
		return WorkbookInfo{}, fmt.Errorf("save: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		return WorkbookInfo{}, fmt.Errorf("save: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return WorkbookInfo{}, fmt.Errorf("save: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return WorkbookInfo{}, err
	}
	w.info.Path = path
	return w.info, nil
}

// workbook is one WriteWorkbook run.
type workbook struct {
	f     *excelize.File
	d     *Data
	st    styles
	info  WorkbookInfo
	names map[string]bool // sheet names taken
}

func newWorkbook(f *excelize.File, d *Data) (*workbook, error) {
	// The Summary sheet is created first so that it comes first, and
	// written last, once the exceptions have been counted.
	if err := f.SetSheetName("Sheet1", SummarySheet); err != nil {
		return nil, err
	}
	st, err := newStyles(f)
	if err != nil {
		return nil, err
	}
	return &workbook{
		f: f, d: d, st: st,
		info: WorkbookInfo{
			Sheets:           []SheetInfo{{Name: SummarySheet}},
			Counts:           map[reconcile.Category]map[string]int{},
			NewByCategory:    map[reconcile.Category]int{},
			OldestByCategory: map[reconcile.Category]time.Time{},
			Resolved:         d.Resolved,
		},
		names: map[string]bool{SummarySheet: true, UnmappedSheet: true},
	}, nil
}

func (w *workbook) write() error {
	if err := w.writeExceptions(); err != nil {
		return err
	}
	if err := w.writeUnmapped(); err != nil {
		return err
	}
	if err := w.check(); err != nil {
		return err
	}
	// Summary was Sheet1, the active sheet of a new file. (SetActiveSheet
	// would parse every streamed sheet back into memory.)
	return w.writeSummary()
}

func (w *workbook) writeUnmapped() error {
	if err := w.writeReviewSheet(UnmappedSheet, w.d.Unmapped); err != nil {
		return err
	}
	w.info.Unmapped = len(w.d.Unmapped)
	w.info.Sheets = append(w.info.Sheets, SheetInfo{Name: UnmappedSheet, Rows: len(w.d.Unmapped)})
	return nil
}

// sheetName makes a free sheet name from a title.
func (w *workbook) sheetName(title string) string {
	name := title
	for i := 2; w.names[name]; i++ {
		name = fmt.Sprintf("%s %d", title, i)
	}
	w.names[name] = true
	return name
}

// InconsistentError says the counts a caller gave in Data disagree with
// the exceptions it streamed. The workbook is not written: a Summary that
// disagrees with its own sheets would mislead.
type InconsistentError struct {
	What            string // "new", "open" or "category/partner"
	Given, Streamed int
}

func (e *InconsistentError) Error() string {
	return fmt.Sprintf("counts disagree with the exceptions streamed: %s given as %d, streamed %d", e.What, e.Given, e.Streamed)
}

// ErrUnsorted is returned when exceptions do not come grouped by category.
var ErrUnsorted = errors.New("exceptions are not sorted by category")

// check compares Data's own figures, when it has them, with what streamed.
func (w *workbook) check() error {
	d := w.d
	if d.Counts == nil {
		return nil
	}
	if d.New != w.info.New {
		return &InconsistentError{What: "new", Given: d.New, Streamed: w.info.New}
	}
	if d.Open != w.info.Open {
		return &InconsistentError{What: "open", Given: d.Open, Streamed: w.info.Open}
	}
	for _, pair := range [][2]map[reconcile.Category]map[string]int{{d.Counts, w.info.Counts}, {w.info.Counts, d.Counts}} {
		for cat, byPartner := range pair[0] {
			for partner, n := range byPartner {
				if m := pair[1][cat][partner]; m != n {
					given, streamed := d.Counts[cat][partner], w.info.Counts[cat][partner]
					return &InconsistentError{What: string(cat) + "/" + partner, Given: given, Streamed: streamed}
				}
			}
		}
	}
	return nil
}
