package pipeline_test

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/xuri/excelize/v2"

	"github.com/flabsync/flabsync/pipeline"
)

// benchDir caches the generated big sheets between runs.
var benchDir = filepath.Join(os.TempDir(), "flabsync-bench")

var benchTests = []string{"CBC, ESR", "Lipid Profile; TSH", "HbA1c", "Vitamin D Total (25-OH), Vitamin B12, Serum Ferritin", "LFT + KFT"}

func benchRow(i int) []string {
	g := "M"
	if i%2 == 1 {
		g = "F"
	}
	return []string{
		"BK-" + strconv.Itoa(i), "Patient" + strconv.Itoa(i%9973) + " Surname" + strconv.Itoa(i%101),
		strconv.Itoa(1+i%90) + " Y", g, "98" + fmt.Sprintf("%08d", i), benchTests[i%len(benchTests)],
		fmt.Sprintf("BC%09d", i), "24/11/2026",
	}
}

var benchHeader = []string{"Booking ID", "Patient Name", "Age", "Sex", "Mobile", "Tests", "Barcode", "Booking Date"}

func benchCSV(b *testing.B, rows int) string {
	p := filepath.Join(benchDir, fmt.Sprintf("bench_%d.csv", rows))
	if _, err := os.Stat(p); err == nil {
		return p
	}
	os.MkdirAll(benchDir, 0o755)
	f, err := os.Create(p + ".tmp")
	if err != nil {
		b.Fatal(err)
	}
	w := bufio.NewWriter(f)
	w.WriteString(strings.Join(benchHeader, ",") + "\n")
	for i := range rows {
		r := benchRow(i)
		r[5] = `"` + r[5] + `"`
		w.WriteString(strings.Join(r, ",") + "\n")
	}
	if err := w.Flush(); err != nil {
		b.Fatal(err)
	}
	f.Close()
	os.Rename(p+".tmp", p)
	return p
}

func benchXLSX(b *testing.B, rows int) string {
	p := filepath.Join(benchDir, fmt.Sprintf("bench_%d.xlsx", rows))
	if _, err := os.Stat(p); err == nil {
		return p
	}
	os.MkdirAll(benchDir, 0o755)
	f := excelize.NewFile()
	sw, err := f.NewStreamWriter("Sheet1")
	if err != nil {
		b.Fatal(err)
	}
	toAny := func(s []string) []any {
		out := make([]any, len(s))
		for i, v := range s {
			out[i] = v
		}
		return out
	}
	sw.SetRow("A1", toAny(benchHeader))
	for i := range rows {
		r := toAny(benchRow(i))
		r[2] = 1 + i%90 // ages as numbers, as Excel stores them
		cell, _ := excelize.CoordinatesToCellName(1, i+2)
		if err := sw.SetRow(cell, r); err != nil {
			b.Fatal(err)
		}
	}
	if err := sw.Flush(); err != nil {
		b.Fatal(err)
	}
	if err := f.SaveAs(p + ".tmp.xlsx"); err != nil {
		b.Fatal(err)
	}
	os.Rename(p+".tmp.xlsx", p)
	return p
}

// peakRSS reads the process's peak resident set (VmHWM) in MB.
func peakRSS() float64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "VmHWM:") {
			kb, _ := strconv.Atoi(strings.Fields(l)[1])
			return float64(kb) / 1024
		}
	}
	return 0
}

// BenchmarkScan measures read + normalise + validate of big sheets
// (no mapping, nothing sent), as rows/s and the process's peak RSS.
func BenchmarkScan(b *testing.B) {
	for _, tc := range []struct {
		format string
		rows   int
	}{{"csv", 100_000}, {"csv", 1_000_000}, {"xlsx", 100_000}, {"xlsx", 1_000_000}} {
		b.Run(fmt.Sprintf("%s/rows=%d", tc.format, tc.rows), func(b *testing.B) {
			path := benchCSV
			if tc.format == "xlsx" {
				path = benchXLSX
			}
			p := path(b, tc.rows)
			runtime.GC()
			b.ResetTimer()
			start := time.Now()
			for range b.N {
				var ok, bad int
				_, err := pipeline.Scan(b.Context(), p, pipeline.ReadOptions{Now: readDay}, pipeline.Sink{
					Accepted: func(pipeline.Accepted) error { ok++; return nil },
					Rejected: func(pipeline.RowError) error { bad++; return nil },
				})
				if err != nil {
					b.Fatal(err)
				}
				if ok != tc.rows || bad != 0 {
					b.Fatalf("%d accepted, %d rejected, want %d accepted", ok, bad, tc.rows)
				}
			}
			b.ReportMetric(float64(tc.rows*b.N)/time.Since(start).Seconds(), "rows/s")
			b.ReportMetric(peakRSS(), "peak-RSS-MB")
		})
	}
}

// BenchmarkBareExcelizeRows is the floor for XLSX: excelize's Rows() loop
// over the same file, doing nothing with the cells.
func BenchmarkBareExcelizeRows(b *testing.B) {
	for _, rows := range []int{100_000, 1_000_000} {
		b.Run(fmt.Sprintf("rows=%d", rows), func(b *testing.B) {
			p := benchXLSX(b, rows)
			b.ResetTimer()
			start := time.Now()
			for range b.N {
				f, err := excelize.OpenFile(p)
				if err != nil {
					b.Fatal(err)
				}
				rs, err := f.Rows("Sheet1")
				if err != nil {
					b.Fatal(err)
				}
				n := 0
				for rs.Next() {
					if _, err := rs.Columns(); err != nil {
						b.Fatal(err)
					}
					n++
				}
				rs.Close()
				f.Close()
				if n != rows+1 {
					b.Fatalf("%d rows", n)
				}
			}
			b.ReportMetric(float64(rows*b.N)/time.Since(start).Seconds(), "rows/s")
		})
	}
}
