package main

import (
	"archive/zip"
	"bytes"
	"compress/flate"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/flabsync/flabsync/internal/flabs/flabstest"
)

// zipBomb writes an XLSX whose sheet declares 3 GiB unpacked: more than
// the unzip limit, so it must be refused before anything is unpacked.
func zipBomb(t *testing.T, path string) {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	add := func(name, body string, declared uint64) {
		var c bytes.Buffer
		fw, _ := flate.NewWriter(&c, flate.BestCompression)
		fw.Write([]byte(body))
		fw.Close()
		w, err := zw.CreateRaw(&zip.FileHeader{Name: name, Method: zip.Deflate, CRC32: crc32.ChecksumIEEE([]byte(body)),
			CompressedSize64: uint64(c.Len()), UncompressedSize64: declared})
		if err != nil {
			t.Fatal(err)
		}
		w.Write(c.Bytes())
	}
	add("[Content_Types].xml", `<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"/>`, 0)
	add("xl/workbook.xml", `<workbook/>`, 0)
	add("xl/worksheets/sheet1.xml", strings.Repeat(" ", 1<<20), 3<<30)
	zw.Close()
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// hugeXLSX writes a small XLSX whose one part unpacks to size bytes of
// fill: a giant shared string, or a sheet of whitespace.
func hugeXLSX(t *testing.T, path, part string, size int, fill byte) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zw := zip.NewWriter(f)
	zw.RegisterCompressor(zip.Deflate, func(w io.Writer) (io.WriteCloser, error) { return flate.NewWriter(w, flate.BestSpeed) })
	put := func(name, body string) {
		w, _ := zw.Create(name)
		io.WriteString(w, body)
	}
	put("[Content_Types].xml", `<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">`+
		`<Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>`+
		`<Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/></Types>`)
	put("xl/workbook.xml", `<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><sheets><sheet name="Sheet1" sheetId="1" r:id="rId1"/></sheets></workbook>`)
	put("xl/_rels/workbook.xml.rels", `<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/></Relationships>`)
	w, _ := zw.Create(part)
	head, tail := `<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><si><t>`, `</t></si></sst>`
	if part != "xl/sharedStrings.xml" {
		head, tail = `<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>`, `</sheetData></worksheet>`
	} else {
		put("xl/worksheets/sheet1.xml", `<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData><row r="1"><c r="A1" t="s"><v>0</v></c></row></sheetData></worksheet>`)
	}
	io.WriteString(w, head)
	chunk := bytes.Repeat([]byte{fill}, 1<<20)
	for range size >> 20 {
		w.Write(chunk)
	}
	io.WriteString(w, tail)
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestBadInputCorpus drops every bad file of fixtures/bad (and the large
// ones, generated) into a running serve with one good sheet: each bad one
// lands in errors/ with a reason a person can act on; the good one is sent
// as if nothing else had happened.
func TestBadInputCorpus(t *testing.T) {
	t.Parallel() // it waits on child processes, mostly: it runs beside the others
	if testing.Short() {
		t.Skip("runs flabsync as a child process")
	}
	dir, sheet, sim := sendRig(t, 5, flabstest.Options{})
	inboxDir := withServe(t, dir, nil)
	os.MkdirAll(inboxDir, 0o755)

	want := map[string]string{ // file → what its reason must say
		"badclinic_truncated.xlsx":    "damaged",
		"badclinic_garbage.csv":       "binary",
		"badclinic_header_only.csv":   "no booking rows",
		"badclinic_empty.csv":         "empty",
		"badclinic_only_invalid.csv":  "no row of the sheet is valid",
		"badclinic_zipbomb.xlsx":      "unpacks to more than",
		"badclinic_10000_columns.csv": "header",
	}
	for name := range want {
		src := filepath.Join("..", "..", "fixtures", "bad", name)
		if b, err := os.ReadFile(src); err == nil {
			os.WriteFile(filepath.Join(inboxDir, name), b, 0o644)
		}
	}
	zipBomb(t, filepath.Join(inboxDir, "badclinic_zipbomb.xlsx"))
	// Small files that would cost gigabytes: a 100 MB shared string, a
	// sheet of 100 MB of whitespace (each well under 1 MB on disk).
	hugeXLSX(t, filepath.Join(inboxDir, "badclinic_bigstring.xlsx"), "xl/sharedStrings.xml", 100<<20, 'a')
	hugeXLSX(t, filepath.Join(inboxDir, "badclinic_whitespace.xlsx"), "xl/worksheets/sheet1.xml", 100<<20, ' ')
	want["badclinic_bigstring.xlsx"] = "xlsx"
	want["badclinic_whitespace.xlsx"] = "xlsx"
	// A quote never closed: the file is refused naming where it opened.
	os.WriteFile(filepath.Join(inboxDir, "badclinic_unclosed.csv"),
		[]byte("Booking ID,Patient Name,Age,Gender,Tests\nU1,Asha,30,F,\"CBC\nU2,Ravi,40,M,LFT\n"), 0o644)
	want["badclinic_unclosed.csv"] = "never closed"
	// Doors: a link into another partner's folder, a hard link to a file
	// elsewhere, a name that hides what it is.
	os.MkdirAll(filepath.Join(inboxDir, "otherclinic"), 0o755)
	os.WriteFile(filepath.Join(dir, "outside.csv"), []byte("root:x:0:0\n"), 0o644)
	if err := os.Symlink(filepath.Join(dir, "outside.csv"), filepath.Join(inboxDir, "otherclinic", "badclinic_link.csv")); err != nil {
		t.Fatal(err)
	}
	if err := os.Link(filepath.Join(dir, "outside.csv"), filepath.Join(inboxDir, "badclinic_hard.csv")); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(inboxDir, "badclinic_\u202ecsv.exe"), []byte("x"), 0o644)
	want["badclinic_link.csv"] = "link to another file"
	want["badclinic_hard.csv"] = "hard link"
	want["badclinic_\u202ecsv.exe"] = "control or invisible"
	// One NUL in one cell: that row is rejected, the rest of the file goes.
	os.WriteFile(filepath.Join(inboxDir, "nulclinic_2026.csv"),
		[]byte("Booking ID,Patient Name,Age,Gender,Tests\nN1,As\x00ha,30,F,CBC\nN2,Kiran,60,M,CBC\n"), 0o644)
	var wide strings.Builder
	for i := range 10000 {
		fmt.Fprintf(&wide, "col%d,", i)
	}
	wide.WriteString("\n")
	for range 20 {
		wide.WriteString(strings.Repeat("x,", 10000) + "\n")
	}
	os.WriteFile(filepath.Join(inboxDir, "badclinic_10000_columns.csv"), []byte(wide.String()), 0o644)
	if !testing.Short() {
		want["badclinic_100mb.csv"] = "32 KB"
		f, _ := os.Create(filepath.Join(inboxDir, "badclinic_100mb.csv"))
		f.WriteString("Patient Name,Age,Gender,Tests\nA,")
		chunk := bytes.Repeat([]byte("9"), 1<<20)
		for range 100 {
			f.Write(chunk)
		}
		f.WriteString(",M,CBC\n")
		f.Close()
	}
	good, _ := os.ReadFile(sheet)
	os.WriteFile(filepath.Join(inboxDir, filepath.Base(sheet)), good, 0o644)

	cmd := child(t, dir, "serve")
	var logs syncBuffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill() })
	deadline := time.Now().Add(60 * time.Second)
	for {
		reasons, _ := filepath.Glob(filepath.Join(dir, "errors", "*", "*.error.txt"))
		archived, _ := filepath.Glob(filepath.Join(dir, "archive", "*", "*"))
		if len(reasons) == len(want) && len(archived) == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 60s: %d reasons (want %d), %d archived (want 2)\n%s", len(reasons), len(want), len(archived), logs.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	cmd.Process.Signal(syscall.SIGTERM)
	cmd.Wait()
	for name, says := range want {
		m, _ := filepath.Glob(filepath.Join(dir, "errors", "*", name+".error.txt"))
		if len(m) != 1 {
			t.Errorf("%s: no reason file in errors/", name)
			continue
		}
		text, _ := os.ReadFile(m[0])
		if !strings.Contains(string(text), says) || !strings.Contains(string(text), "What to do") {
			t.Errorf("%s: reason lacks %q:\n%s", name, says, text)
		}
	}
	if n := sim.Stats().Created.Load(); n != 6 {
		t.Errorf("%d bookings created, want the good sheet's 5 and the NUL file's good row", n)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "outside.csv")); string(b) != "root:x:0:0\n" {
		t.Errorf("the linked file outside the inbox was changed: %q", b)
	}
	out, err := child(t, dir, "import", "--dry-run", "--json", filepath.Join(dir, "archive", time.Now().Format("2006-01-02"), "nulclinic_2026.csv")).Output()
	if err == nil || !strings.Contains(string(out), `"code":"bad_characters"`) || !strings.Contains(string(out), `"integrator_id":"nulclinic:N2"`) {
		t.Errorf("the NUL row is not rejected alone:\n%s (%v)", out, err)
	}
}
