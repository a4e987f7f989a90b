package sheet_test

import (
	"archive/zip"
	"bytes"
	"compress/flate"
	"errors"
	"hash/crc32"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/flabsync/flabsync/internal/sheet"
	"github.com/flabsync/flabsync/mapping"
	"github.com/flabsync/flabsync/pipeline"
	"github.com/flabsync/flabsync/reconcile/report"
)

// bombPart is one part of a hostile workbook: head, then chunk n times,
// then tail. The chunk is deflated once and its compressed bytes written
// n times (each copy a self-contained run of deflate blocks), so a part
// that unpacks to gigabytes costs the test one chunk's compression and a
// checksum.
type bombPart struct {
	name        string
	head, chunk string
	n           int
	tail        string
}

// deflated compresses s into deflate blocks that stand alone: Flush'ed
// (not final) unless final.
func deflated(s string, final bool) []byte {
	var b bytes.Buffer
	fw, _ := flate.NewWriter(&b, flate.BestCompression)
	fw.Write([]byte(s))
	if final {
		fw.Close()
	} else {
		fw.Flush()
	}
	return b.Bytes()
}

// writeBomb writes a workbook of one sheet, "Bookings", with the parts
// given (a sheet part, a shared-strings part) and returns its path.
func writeBomb(t testing.TB, name string, parts ...bombPart) string {
	t.Helper()
	base := []bombPart{
		{name: "[Content_Types].xml", head: `<?xml version="1.0" encoding="UTF-8" standalone="yes"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/><Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/><Override PartName="/xl/sharedStrings.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"/></Types>`},
		{name: "_rels/.rels", head: `<?xml version="1.0" encoding="UTF-8" standalone="yes"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>`},
		{name: "xl/workbook.xml", head: `<?xml version="1.0" encoding="UTF-8" standalone="yes"?><workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><sheets><sheet name="Bookings" sheetId="1" r:id="rId1"/></sheets></workbook>`},
		{name: "xl/_rels/workbook.xml.rels", head: `<?xml version="1.0" encoding="UTF-8" standalone="yes"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/><Relationship Id="rId2" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/sharedStrings" Target="sharedStrings.xml"/></Relationships>`},
	}
	p := filepath.Join(t.TempDir(), name)
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zw := zip.NewWriter(f)
	for _, part := range append(base, parts...) {
		head, chunk, tail := deflated(part.head, false), deflated(part.chunk, false), deflated(part.tail, true)
		crc := crc32.NewIEEE()
		crc.Write([]byte(part.head))
		if part.n > 0 {
			c := []byte(part.chunk)
			for range part.n {
				crc.Write(c)
			}
		}
		crc.Write([]byte(part.tail))
		h := &zip.FileHeader{Name: part.name, Method: zip.Deflate, CRC32: crc.Sum32(),
			CompressedSize64:   uint64(len(head) + part.n*len(chunk) + len(tail)),
			UncompressedSize64: uint64(len(part.head) + part.n*len(part.chunk) + len(part.tail))}
		w, err := zw.CreateRaw(h)
		if err != nil {
			t.Fatal(err)
		}
		w.Write(head)
		for range part.n {
			w.Write(chunk)
		}
		w.Write(tail)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return p
}

// door is one way a file from outside is read.
type door struct {
	name string
	read func(t *testing.T, path string) error
}

var doors = []door{
	{"partner sheet (pipeline.Scan)", func(t *testing.T, path string) error {
		_, err := pipeline.Scan(t.Context(), path, pipeline.ReadOptions{Now: time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)}, pipeline.Sink{})
		return err
	}},
	{"mapping table (mapping.ReadTableFile)", func(t *testing.T, path string) error {
		_, err := mapping.ReadTableFile(path)
		return err
	}},
	{"exceptions import (report.ReadDecisions)", func(t *testing.T, path string) error {
		_, err := report.ReadDecisions(path, time.UTC)
		return err
	}},
}

// TestEveryDoorRefusesHostileFiles drives each door a file from outside
// comes through (a partner's sheet, a mapping table, a workbook back from
// ops) with each hostile file: each is refused (ErrRefused), at once and
// without allocating more than a bounded amount, whatever it unpacks to.
// Before the one guard, exceptions import opened workbooks with a bare
// excelize.OpenFile: 2 GB of memory for the first, a 2 GB temporary file
// and 4 GB for the second, 89 s for the third, a hang for a FIFO.
func TestEveryDoorRefusesHostileFiles(t *testing.T) {
	const mb = 1 << 20
	sheetOf := func(rows string) bombPart {
		return bombPart{name: "xl/worksheets/sheet1.xml", head: sheetStart + headerRow + rows + sheetEnd}
	}
	sstOf := func(head, chunk string, n int, tail string) bombPart {
		return bombPart{name: "xl/sharedStrings.xml", head: sstStart + headerSST + head, chunk: chunk, n: n, tail: tail + sstEnd}
	}
	row := `<row><c t="inlineStr"><is><t>Asha</t></is></c><c><v>30</v></c><c t="inlineStr"><is><t>F</t></is></c><c t="inlineStr"><is><t>CBC</t></is></c></row>`
	tiny := `<si><t>a</t></si>`
	files := []struct {
		name string
		path func(t *testing.T) string
	}{
		{"one 300 MB shared string", func(t *testing.T) string {
			p := writeBomb(t, "p_bookings.xlsx", sheetOf(`<row r="2"><c r="A2" t="s"><v>4</v></c></row>`),
				sstOf(`<si><t>`, strings.Repeat("A", mb), 300, `</t></si>`))
			if st, _ := os.Stat(p); st.Size() > 1*mb {
				t.Fatalf("the workbook is %d bytes, want a small one", st.Size())
			}
			return p
		}},
		{"a sheet that unpacks to 2 GB", func(t *testing.T) string {
			return writeBomb(t, "p_bookings.xlsx",
				bombPart{name: "xl/worksheets/sheet1.xml", head: sheetStart + headerRow, chunk: strings.Repeat(row, mb/len(row)), n: 2048, tail: sheetEnd},
				sstOf("", "", 0, ""))
		}},
		{"5M tiny shared strings", func(t *testing.T) string {
			return writeBomb(t, "p_bookings.xlsx", sheetOf(""), sstOf("", strings.Repeat(tiny, mb/len(tiny)), 5_000_000/(mb/len(tiny))+1, ""))
		}},
		{"5M empty shared strings, within the table's size", func(t *testing.T) string {
			return writeBomb(t, "p_bookings.xlsx", sheetOf(""), sstOf("", strings.Repeat(`<si/>`, mb/5), 5_000_000/(mb/5)+1, ""))
		}},
		{"a FIFO", func(t *testing.T) string {
			p := filepath.Join(t.TempDir(), "p_bookings.xlsx")
			if err := syscall.Mkfifo(p, 0o600); err != nil {
				t.Skipf("mkfifo: %v", err)
			}
			return p
		}},
		{"a directory", func(t *testing.T) string {
			p := filepath.Join(t.TempDir(), "p_bookings.xlsx")
			os.Mkdir(p, 0o700)
			return p
		}},
		{"a device", func(t *testing.T) string { return "/dev/zero" }},
		{"a symbolic link to a workbook", func(t *testing.T) string {
			p := filepath.Join(t.TempDir(), "p_bookings.xlsx")
			if err := os.Symlink(makeXLSX(t, 2, "Bookings"), p); err != nil {
				t.Skipf("symlink: %v", err)
			}
			return p
		}},
	}
	for _, file := range files {
		t.Run(file.name, func(t *testing.T) {
			path := file.path(t)
			for _, d := range doors {
				t.Run(d.name, func(t *testing.T) {
					var before, after runtime.MemStats
					runtime.ReadMemStats(&before)
					done := make(chan error, 1)
					go func() { done <- d.read(t, path) }()
					var err error
					select {
					case err = <-done:
					case <-time.After(20 * time.Second):
						// Only a read that hangs gets here: unblock a
						// FIFO's reader and fail.
						if w, werr := os.OpenFile(path, os.O_WRONLY|syscall.O_NONBLOCK, 0); werr == nil {
							w.Close()
						}
						t.Fatalf("the read did not return: it blocks on the file")
					}
					runtime.ReadMemStats(&after)
					if !errors.Is(err, sheet.ErrRefused) {
						t.Fatalf("err = %v, want a refusal (ErrRefused)", err)
					}
					if grew := after.TotalAlloc - before.TotalAlloc; grew > 256*mb {
						t.Errorf("the refusal allocated %d MB", grew/mb)
					}
					if strings.Contains(err.Error(), "AAAA") || strings.Contains(err.Error(), "Asha") {
						t.Errorf("err quotes a cell: %v", err)
					}
				})
			}
		})
	}
}
