package sheet

import (
	"archive/zip"
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/xuri/excelize/v2"
)

// How a cell's number shows: a book formats a number cell with a style
// through excelize itself (its number-format engine: dates, "000123",
// percentages), on a scratch workbook that holds only this workbook's
// styles, so every number reads as excelize's own Rows would give it.

// excelizeOptions are the options every workbook is read with.
func excelizeOptions() excelize.Options {
	return excelize.Options{
		// Date cells in Excel's default short-date format come out as
		// ISO dates, never as ambiguous mm-dd-yy.
		ShortDatePattern: "yyyy-mm-dd",
		LongDatePattern:  "yyyy-mm-dd",
	}
}

// maxStyleElements bounds the elements of a workbook's styles part
// (Excel writes at most 64,000 cell formats): excelize holds them all.
const maxStyleElements = 1 << 18

// maxFormatCache bounds the formatted numbers a book remembers.
const maxFormatCache = 1 << 14

// formatter formats number cells with the workbook's styles.
type formatter struct {
	f     *excelize.File // nil: the workbook has no styles
	cache map[int]map[string]string
	n     int
}

// format returns the number v (as getCellDefault left it) shown with
// style.
func (b *book) format(style int, v string) (string, error) {
	if b.fm == nil {
		fm, err := b.newFormatter()
		if err != nil {
			return "", err
		}
		b.fm = fm
	}
	fm := b.fm
	if fm.f == nil {
		return v, nil
	}
	if out, ok := fm.cache[style][v]; ok {
		return out, nil
	}
	if err := fm.f.SetCellDefault("Sheet1", "A1", v); err != nil {
		return v, nil
	}
	out := v
	if err := fm.f.SetCellStyle("Sheet1", "A1", "A1", style); err == nil {
		// A style the workbook does not have leaves the number as it is,
		// as excelize's Rows does.
		if got, err := fm.f.GetCellValue("Sheet1", "A1"); err == nil {
			out = got
		}
	}
	if fm.n < maxFormatCache {
		m := fm.cache[style]
		if m == nil {
			m = map[string]string{}
			fm.cache[style] = m
		}
		m[v] = out
		fm.n++
	}
	return out, nil
}

// newFormatter builds the scratch workbook: the styles part copied as
// it is compressed (checked first: bounded tokens and elements), a
// workbook with this one's date system, one empty sheet.
func (b *book) newFormatter() (*formatter, error) {
	fm := &formatter{cache: map[int]map[string]string{}}
	zf := b.part("xl/styles.xml")
	if zf == nil {
		return fm, nil
	}
	if err := b.checkStyles(); err != nil {
		return nil, err
	}
	date1904 := ""
	if b.date1904 {
		date1904 = `<workbookPr date1904="1"/>`
	}
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	add := func(name, body string) {
		w, _ := zw.CreateHeader(&zip.FileHeader{Name: name, Method: zip.Store})
		io.WriteString(w, body)
	}
	const decl = `<?xml version="1.0" encoding="UTF-8" standalone="yes"?>`
	add("[Content_Types].xml", decl+`<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/><Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/><Override PartName="/xl/styles.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.styles+xml"/></Types>`)
	add("_rels/.rels", decl+`<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>`)
	add("xl/workbook.xml", decl+`<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">`+date1904+`<sheets><sheet name="Sheet1" sheetId="1" r:id="rId1"/></sheets></workbook>`)
	add("xl/_rels/workbook.xml.rels", decl+`<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/><Relationship Id="rId2" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/styles" Target="styles.xml"/></Relationships>`)
	add("xl/worksheets/sheet1.xml", decl+`<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData/></worksheet>`)
	h := zf.FileHeader
	h.Name = "xl/styles.xml"
	w, err := zw.CreateRaw(&h)
	if err != nil {
		return nil, fmt.Errorf("read the workbook's styles: %w", err)
	}
	raw, err := zf.OpenRaw()
	if err != nil {
		return nil, fmt.Errorf("read the workbook's styles: %w", err)
	}
	if _, err := io.Copy(w, raw); err != nil {
		return nil, fmt.Errorf("read the workbook's styles: %w", err)
	}
	if err := zw.Close(); err != nil {
		return nil, fmt.Errorf("read the workbook's styles: %w", err)
	}
	opts := excelizeOptions()
	opts.UnzipSizeLimit = maxPart + 1<<20
	opts.UnzipXMLSizeLimit = opts.UnzipSizeLimit
	f, err := excelize.OpenReader(&buf, opts)
	if err != nil {
		// Styles excelize cannot read: it would show the numbers as
		// they are.
		return fm, nil
	}
	fm.f = f
	return fm, nil
}

// checkStyles refuses a styles part with a token over maxXMLToken or
// more elements than maxStyleElements.
func checkStyles(zf *zip.File) error {
	name := partName(zf.Name)
	n := 0
	errMany := errors.New("too many elements")
	err := xmlTokens(zf, func(tok xml.Token) error {
		if _, ok := tok.(xml.StartElement); ok {
			if n++; n > maxStyleElements {
				return errMany
			}
		}
		return nil
	})
	switch {
	case errors.Is(err, errToken):
		return &LimitError{What: "xml token", Part: name, Size: maxXMLToken + 1, Limit: maxXMLToken, Hint: xlsxCheckHint}
	case errors.Is(err, errMany):
		return &LimitError{What: "styles", Part: name, Size: int64(n), Limit: maxStyleElements, Hint: xlsxCheckHint}
	}
	// Damaged styles: excelize reads what it can of them, or formats
	// nothing.
	return nil
}

// generalNumber is a number cell's value as excelize shows it in
// General format: the shortest decimal that reads back as the same
// float, or 15 significant digits where there are more.
func generalNumber(v string) string {
	if plainInteger(v) {
		return v
	}
	if strings.Contains(v, "_") {
		return v
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil {
		return v
	}
	s := strconv.FormatFloat(f, 'f', -1, 64)
	if len(s)-strings.Count(s, ".") > 15 && !integerWithinPrecision(v) {
		return strconv.FormatFloat(f, 'G', 15, 64)
	}
	return s
}

// plainInteger reports digits without a leading zero, at most 15 of
// them: General shows them as written.
func plainInteger(v string) bool {
	if v == "" || len(v) > 15 || (v[0] == '0' && len(v) > 1) {
		return false
	}
	for i := 0; i < len(v); i++ {
		if v[i] < '0' || v[i] > '9' {
			return false
		}
	}
	return true
}

// integerWithinPrecision: an integer zero-filled after Excel's 15
// significant digits.
func integerWithinPrecision(s string) bool {
	if strings.ContainsAny(s, ".Ee") {
		return false
	}
	s = strings.TrimLeft(s, "+-0")
	return len(strings.TrimRight(s, "0")) <= 15
}

// isoToSerial turns a date cell's ISO 8601 value (t="d") into the date
// serial excelize formats it as.
func isoToSerial(v string) (string, bool) {
	layout := "20060102T150405.999"
	if strings.HasSuffix(v, "Z") {
		layout = "20060102T150405Z"
		if strings.Contains(v, "-") {
			layout = "2006-01-02T15:04:05Z"
		}
	} else if strings.Contains(v, "-") {
		layout = "2006-01-02 15:04:05Z"
	}
	t, err := time.Parse(layout, strings.ReplaceAll(v, ",", "."))
	if err != nil {
		return v, false
	}
	epoch := time.Date(1899, 12, 30, 0, 0, 0, 0, time.UTC)
	days := float64(t.Sub(epoch)) / float64(24*time.Hour)
	if t.Before(time.Date(1900, 3, 1, 0, 0, 0, 0, time.UTC)) {
		days-- // Excel's 29 February 1900
	}
	return strconv.FormatFloat(days, 'G', 15, 64), true
}
