package sheet_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/flabsync/flabsync/internal/sheet"
)

func writeFile(t testing.TB, name string, b []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func utf16le(s string, bom bool) []byte {
	var b bytes.Buffer
	if bom {
		b.Write([]byte{0xFF, 0xFE})
	}
	for _, c := range utf16.Encode([]rune(s)) {
		b.WriteByte(byte(c))
		b.WriteByte(byte(c >> 8))
	}
	return b.Bytes()
}

type row struct {
	Row                int
	Name, Tests, Ref   string
	Age, Gender, Extra string
}

func rowsOf(t *testing.T, path string, opts sheet.Options) ([]row, sheet.Summary, error) {
	var out []row
	sum, err := sheet.Read(t.Context(), path, opts, func(r *sheet.Record) error {
		out = append(out, row{Row: r.Row, Name: r.Get(sheet.Name), Tests: r.Get(sheet.Tests), Ref: r.Get(sheet.Ref), Age: r.Get(sheet.Age), Gender: r.Get(sheet.Gender), Extra: r.Get(sheet.Barcode)})
		return nil
	})
	return out, sum, err
}

const header = "Name,Age,Sex,Tests\n"

// The CSV variants clinics' systems export all read to the same rows.
func TestCSVVariants(t *testing.T) {
	want := []row{{Row: 2, Name: "Asha Rao", Age: "30", Gender: "F", Tests: "CBC, ESR"}, {Row: 3, Name: "Zoë", Age: "4 M", Gender: "M", Tests: "TSH"}}
	cells := [][]string{{"Name", "Age", "Sex", "Tests"}, {"Asha Rao", "30", "F", "CBC, ESR"}, {"Zoë", "4 M", "M", "TSH"}}
	join := func(d, eol string) string {
		var b strings.Builder
		for _, r := range cells {
			for i, c := range r {
				if i > 0 {
					b.WriteString(d)
				}
				if strings.Contains(c, d) {
					c = `"` + c + `"`
				}
				b.WriteString(c)
			}
			b.WriteString(eol)
		}
		return b.String()
	}
	body := join(",", "\n")
	tests := []struct {
		name     string
		data     []byte
		encoding string
		delim    string
	}{
		{"utf-8 LF", []byte(body), "utf-8", ","},
		{"utf-8 CRLF", []byte(join(",", "\r\n")), "utf-8", ","},
		{"utf-8 BOM", append([]byte("\xEF\xBB\xBF"), body...), "utf-8-bom", ","},
		{"semicolon", []byte(join(";", "\r\n")), "utf-8", ";"},
		{"tab", []byte(join("\t", "\n")), "utf-8", "tab"},
		{"pipe", []byte(join("|", "\n")), "utf-8", "|"},
		{"utf-16 with BOM (Excel Unicode text)", utf16le(join("\t", "\r\n"), true), "utf-16le", "tab"},
		{"utf-16 without BOM", utf16le(body, false), "utf-16le", ","},
		{"windows-1252", []byte(strings.ReplaceAll(body, "Zoë", "Zo\xEB")), "windows-1252", ","},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, sum, err := rowsOf(t, writeFile(t, "p_x.csv", tt.data), sheet.Options{})
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("rows = %+v\nwant %+v", got, want)
			}
			if sum.Encoding != tt.encoding || sum.Delimiter != tt.delim {
				t.Errorf("encoding %q delimiter %q, want %q %q", sum.Encoding, sum.Delimiter, tt.encoding, tt.delim)
			}
		})
	}
}

// Row numbers are the ones a person sees when opening the file: blank
// lines count, and a quoted cell with line breaks is one row.
func TestCSVRowNumbersAndBlanks(t *testing.T) {
	data := "Clinic export 24/11\n\n" + header + "A One,1,M,CBC\n\n,,,\n\"B Two\",2,F,\"CBC\nESR\nTSH\"\nC Three,3,M,ESR\n  ,  ,,\n"
	got, sum, err := rowsOf(t, writeFile(t, "p.csv", []byte(data)), sheet.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var rows []int
	for _, r := range got {
		rows = append(rows, r.Row)
	}
	if want := []int{4, 7, 8}; !reflect.DeepEqual(rows, want) {
		t.Errorf("rows %v, want %v", rows, want)
	}
	if got[1].Tests != "CBC\nESR\nTSH" {
		t.Errorf("quoted multi-line cell = %q", got[1].Tests)
	}
	if sum.HeaderRow != 3 || sum.Blank != 3 || sum.Records != 3 {
		t.Errorf("summary = %+v, want header row 3, 3 blank, 3 records", sum)
	}
}

func TestHeaderDetection(t *testing.T) {
	tests := []struct {
		name    string
		data    string
		opts    sheet.Options
		wantErr string
		want    row
	}{
		{"synonyms and punctuation", "Patient's Name:,AGE (Yrs),Gender/Sex,Investigations,Visit No.\nA B,3,M,CBC,V1\n", sheet.Options{}, "", row{Row: 2, Name: "A B", Age: "3", Gender: "M", Tests: "CBC", Ref: "V1"}},
		{"partner alias", "Pt,Yrs,MF,Panel,Lab Ref\nA B,3,M,CBC,V1\n", sheet.Options{Aliases: map[sheet.Field][]string{sheet.Name: {"Pt"}, sheet.Age: {"Yrs"}, sheet.Gender: {"MF"}, sheet.Tests: {"panel"}}}, "", row{Row: 2, Name: "A B", Age: "3", Gender: "M", Tests: "CBC", Ref: "V1"}},
		{"numbered test columns", "Name,Age,Sex,Test 1,Test 2,Test3\nA B,3,M,CBC,,ESR\n", sheet.Options{}, "", row{Row: 2, Name: "A B", Age: "3", Gender: "M", Tests: "CBC; ESR"}},
		{"missing columns listed", "Patient Name,Age,Phone\nA,1,2\n", sheet.Options{}, `has ['Patient Name', 'Age', 'Phone'] but lacks gender (Sex or Gender), tests`, row{}},
		{"no header at all", "1,2,3\n4,5,6\n", sheet.Options{}, `no row in the first 30 looks like a header: 2 rows (rows 1 to 2) with 3 columns were looked at`, row{}},
		{"empty", "\n\n", sheet.Options{}, "the sheet has no data", row{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, _, err := rowsOf(t, writeFile(t, "p.csv", []byte(tt.data)), tt.opts)
			if tt.wantErr != "" {
				if !errors.Is(err, sheet.ErrNoHeader) || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want ErrNoHeader saying %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != 1 || got[0] != tt.want {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestDetectRefusals(t *testing.T) {
	tests := []struct {
		name string
		data []byte
		want string
	}{
		{"empty.csv", nil, "the file is empty"},
		{"x.xlsx", []byte("Name,Age\n"), "the name says .xlsx but the content is not a workbook"},
		{"x.ods", []byte("whatever"), "OpenDocument"},
		{"x.csv", []byte("\x1f\x8b\x08\x00rest"), "gzip"},
		{"x.csv", []byte("\x89PNG\r\n\x1a\n"), "image"},
		{"x.csv", []byte("<html><body><table><tr><td>Name</td></tr></table>"), "web page"},
		{"x.csv", append([]byte("Name,Age\n"), 0, 1, 2, 3), "binary data"},
		{"x.xlsx", []byte("PK\x03\x04garbage"), "damaged"},
	}
	for _, tt := range tests {
		t.Run(tt.name+" "+tt.want, func(t *testing.T) {
			_, _, err := rowsOf(t, writeFile(t, tt.name, tt.data), sheet.Options{})
			if !errors.Is(err, sheet.ErrRefused) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want ErrRefused saying %q", err, tt.want)
			}
		})
	}
}

// An unterminated quote must not silently swallow the rest of the file.
func TestCSVRunawayQuote(t *testing.T) {
	data := header + "A,1,M,\"CBC\n" + strings.Repeat("B,2,F,ESR\n", 5000)
	_, _, err := rowsOf(t, writeFile(t, "p.csv", []byte(data)), sheet.Options{})
	if err == nil || !strings.Contains(err.Error(), "never closed") {
		t.Errorf("err = %v, want a never-closed quote error", err)
	}
}

// FuzzReadCSV: any bytes as a CSV never panic, and rows handed over come
// in increasing order below the header.
func FuzzReadCSV(f *testing.F) {
	f.Add([]byte(header + "A B,3,M,CBC\n"))
	f.Add([]byte("t\n\n" + strings.ReplaceAll(header, ",", ";") + "\"a;b\";1;F;\"x\ny\"\r\n"))
	f.Add(utf16le(header+"A,1,M,CBC\n", true))
	f.Add([]byte("Name|Age|Sex|Tests\nA|1|M|\"unterminated\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		p := filepath.Join(t.TempDir(), "f.csv")
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		last := 0
		sum, err := sheet.Read(t.Context(), p, sheet.Options{}, func(r *sheet.Record) error {
			if r.Row <= last {
				t.Fatalf("row %d after row %d", r.Row, last)
			}
			last = r.Row
			// What is handed over is bounded text, and every line break in
			// a single-line field is a problem.
			breaks := map[sheet.Field]bool{}
			for _, p := range r.Problems {
				if p.Code == sheet.ProblemLineBreak {
					breaks[p.Field] = true
				}
				if p.Line < r.Line || p.Column < 0 {
					t.Fatalf("row %d (line %d): problem %+v", r.Row, r.Line, p)
				}
			}
			for _, f := range sheet.Fields() {
				v := r.Get(f)
				if len(v) > sheet.MaxCell || !utf8.ValidString(v) || strings.ContainsFunc(v, func(r rune) bool { return r < 0x20 && r != '\t' && r != '\n' && r != '\r' }) {
					t.Fatalf("row %d %s: %q", r.Row, f, sheet.Excerpt(v, 40))
				}
				if f.SingleLine() && f != sheet.Tests && f != sheet.Packages && strings.ContainsAny(v, "\r\n") && !breaks[f] {
					t.Fatalf("row %d %s: a line break and no problem", r.Row, f)
				}
			}
			return nil
		})
		if err == nil && last > 0 && last <= sum.HeaderRow {
			t.Fatalf("data row %d not below header row %d", last, sum.HeaderRow)
		}
	})
}

// FuzzHeader: header matching on any text never panics and depends only on
// the normalised text.
func FuzzHeader(f *testing.F) {
	for _, s := range []string{"Patient Name", "AGE (yrs)", "Test 12", "Sex/Gender", "", "नाम", "visit no."} {
		f.Add(s, "Age")
	}
	f.Fuzz(func(t *testing.T, a, b string) {
		data := []byte(strings.NewReplacer("\n", " ", "\r", " ", "\"", "", ",", " ").Replace(a) + ",Sex," + strings.NewReplacer("\n", " ", "\r", " ", "\"", "", ",", " ").Replace(b) + ",Tests,Name\nX,M,1,CBC,Y\n")
		p := filepath.Join(t.TempDir(), "h.csv")
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		_, _ = sheet.Read(t.Context(), p, sheet.Options{}, func(*sheet.Record) error { return nil })
	})
}
