package main

import (
	"archive/zip"
	"bytes"
	"compress/flate"
	"fmt"
	"hash/crc32"
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

// TestBadInputCorpus drops every bad file of fixtures/bad (and the large
// ones, generated) into a running serve with one good sheet: each bad one
// lands in errors/ with a reason a person can act on; the good one is sent
// as if nothing else had happened.
func TestBadInputCorpus(t *testing.T) {
	if testing.Short() {
		t.Skip("runs flabsync as a child process")
	}
	dir, sheet, sim := sendRig(t, 5, flabstest.Options{})
	cfg, _ := os.ReadFile(filepath.Join(dir, "flabsync.yaml"))
	inboxDir := filepath.Join(dir, "inbox")
	cfg = append(cfg, []byte(fmt.Sprintf("inbox: {dir: %s, archive_dir: %s, error_dir: %s, settle: 200ms}\nserve: {listen: \"127.0.0.1:0\"}\nwebhook: {listen: \"127.0.0.1:0\", auth_token: test-token}\n",
		inboxDir, filepath.Join(dir, "archive"), filepath.Join(dir, "errors")))...)
	os.WriteFile(filepath.Join(dir, "flabsync.yaml"), cfg, 0o644)
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
		if len(reasons) == len(want) && len(archived) == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 60s: %d reasons (want %d), %d archived (want 1)\n%s", len(reasons), len(want), len(archived), logs.String())
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
	if n := sim.Stats().Created.Load(); n != 5 {
		t.Errorf("%d bookings created, want the good sheet's 5", n)
	}
}
