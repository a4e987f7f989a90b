package sheet_test

import (
	"archive/zip"
	"bufio"
	"compress/flate"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// xlsxPart is one part of a workbook written by writeParts: its body is
// streamed, so a part can be hundreds of MB unpacked and still cost the
// test little.
type xlsxPart struct {
	name  string
	store bool // stored, not deflated
	body  func(w io.Writer)
}

func text(s string) func(io.Writer) { return func(w io.Writer) { io.WriteString(w, s) } }

// repeat writes n copies of b.
func repeat(w io.Writer, b byte, n int) {
	buf := []byte(strings.Repeat(string(b), 1<<16))
	for n > 0 {
		k := min(n, len(buf))
		w.Write(buf[:k])
		n -= k
	}
}

const (
	sheetStart = `<?xml version="1.0" encoding="UTF-8" standalone="yes"?>` + "\n" +
		`<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>`
	sheetEnd = `</sheetData></worksheet>`
	sstStart = `<?xml version="1.0" encoding="UTF-8" standalone="yes"?>` + "\n" +
		`<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">`
	sstEnd = `</sst>`
	// headerSST and headerRow: a header (shared strings 0 to 3) that a
	// booking sheet has.
	headerSST = `<si><t>Patient Name</t></si><si><t>Age</t></si><si><t>Sex</t></si><si><t>Tests</t></si>`
	headerRow = `<row r="1"><c r="A1" t="s"><v>0</v></c><c r="B1" t="s"><v>1</v></c><c r="C1" t="s"><v>2</v></c><c r="D1" t="s"><v>3</v></c></row>`
)

// inlineRow is a sheet row of inline-string cells.
func inlineRow(r int, cells ...string) string {
	var b strings.Builder
	b.WriteString(`<row r="` + itoa(r) + `">`)
	for i, c := range cells {
		b.WriteString(`<c r="` + string(rune('A'+i)) + itoa(r) + `" t="inlineStr"><is><t>` + c + `</t></is></c>`)
	}
	b.WriteString(`</row>`)
	return b.String()
}

// writeParts writes a workbook with one sheet, "Bookings", of the given
// sheet and shared-strings parts (nil: none), and any more parts.
func writeParts(t testing.TB, sheetXML, sstXML func(io.Writer), more ...xlsxPart) string {
	t.Helper()
	return writeZip(t, zip.Deflate, sheetXML, sstXML, more...)
}

// writeZip is writeParts with every part written by method (zip.Store
// for speed, where sizes do not matter), but those marked store.
func writeZip(t testing.TB, method uint16, sheetXML, sstXML func(io.Writer), more ...xlsxPart) string {
	t.Helper()
	parts := []xlsxPart{
		{name: "[Content_Types].xml", body: text(`<?xml version="1.0" encoding="UTF-8" standalone="yes"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/><Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/><Override PartName="/xl/sharedStrings.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"/></Types>`)},
		{name: "_rels/.rels", body: text(`<?xml version="1.0" encoding="UTF-8" standalone="yes"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>`)},
		{name: "xl/workbook.xml", body: text(`<?xml version="1.0" encoding="UTF-8" standalone="yes"?><workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><sheets><sheet name="Bookings" sheetId="1" r:id="rId1"/></sheets></workbook>`)},
		{name: "xl/_rels/workbook.xml.rels", body: text(`<?xml version="1.0" encoding="UTF-8" standalone="yes"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/><Relationship Id="rId2" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/sharedStrings" Target="sharedStrings.xml"/></Relationships>`)},
		{name: "xl/worksheets/sheet1.xml", body: sheetXML},
	}
	if sstXML != nil {
		parts = append(parts, xlsxPart{name: "xl/sharedStrings.xml", body: sstXML})
	}
	parts = append(parts, more...)
	p := filepath.Join(t.TempDir(), "p_bookings.xlsx")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zw := zip.NewWriter(f)
	// The fastest deflate: the hostile parts are long runs of one byte,
	// and the default level spent most of the package's test time on them.
	zw.RegisterCompressor(zip.Deflate, func(w io.Writer) (io.WriteCloser, error) { return flate.NewWriter(w, flate.BestSpeed) })
	for _, part := range parts {
		h := &zip.FileHeader{Name: part.name, Method: method}
		if part.store {
			h.Method = zip.Store
		}
		w, err := zw.CreateHeader(h)
		if err != nil {
			t.Fatal(err)
		}
		bw := bufio.NewWriterSize(w, 1<<16)
		part.body(bw)
		if err := bw.Flush(); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return p
}
