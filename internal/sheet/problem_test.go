package sheet_test

import (
	"bytes"
	"errors"
	"github.com/flabsync/flabsync/internal/redact"
	"io"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/flabsync/flabsync/internal/sheet"
)

// recordsOf reads path and returns every record handed over.
func recordsOf(t *testing.T, path string, opts sheet.Options) ([]sheet.Record, error) {
	t.Helper()
	var out []sheet.Record
	_, err := sheet.Read(t.Context(), path, opts, func(r *sheet.Record) error {
		out = append(out, *r)
		return nil
	})
	return out, err
}

// A quote that runs to the end of the file refuses the file, naming the
// line it opened on, instead of sending the next patients on as one cell.
func TestCSVQuoteNeverClosed(t *testing.T) {
	tests := []struct {
		name, data string
		want       string
	}{
		{"the review's four lines", "Name,Age,Sex,Tests\nR1,40,F,\"CBC\nR2,C,30,M,R3\n", `row 2: not a readable sheet: a double quote mark opened on line 2 is never closed`},
		{"after good rows, CRLF", "Name,Age,Sex,Tests\r\nA,1,M,CBC\r\n\r\nB,2,F,\"ESR\r\nC,3,M,TSH\r\n", `row 4: not a readable sheet: a double quote mark opened on line 4 is never closed`},
		{"a quote closed and opened again", "Name,Age,Sex,Tests\nA,1,M,\"CBC\" x,y\nB,2,F,ESR\n", `a double quote mark opened on line 2 is never closed`},
		{"the last cell, no newline", "Name,Age,Sex,Tests\nA,1,M,\"", `a double quote mark opened on line 2 is never closed`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := recordsOf(t, writeFile(t, "p.csv", []byte(tt.data)), sheet.Options{})
			if !errors.Is(err, sheet.ErrRefused) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want ErrRefused saying %q", err, tt.want)
			}
			for _, cell := range []string{"R2", "R3", "CBC", "ESR", "TSH"} {
				if strings.Contains(err.Error(), cell) {
					t.Errorf("err quotes a cell (%s): %v", cell, err)
				}
			}
			for _, r := range got {
				if strings.Contains(r.Get(sheet.Tests), "\n") {
					t.Errorf("row %d handed over with lines swallowed: %+v", r.Row, r)
				}
			}
		})
	}
}

// countingReader counts what was read from it.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// endless is CSV text: head, then row over and over, left bytes in all.
type endless struct {
	head string
	row  string
	left int64
	off  int
}

func (e *endless) Read(p []byte) (int, error) {
	if e.left <= 0 {
		return 0, io.EOF
	}
	n := 0
	if e.head != "" {
		n = copy(p, e.head)
		e.head = e.head[n:]
	}
	for n < len(p) && e.head == "" {
		k := copy(p[n:], e.row[e.off:])
		e.off = (e.off + k) % len(e.row)
		n += k
	}
	n = int(min(int64(n), e.left))
	e.left -= int64(n)
	return n, nil
}

// A quote never closed in a large file is refused as soon as its cell
// passes MaxCell: after reading little more than that, whatever the size
// of the file.
func TestCSVRunawayQuoteStopsEarly(t *testing.T) {
	const size = 64 << 20
	tests := []struct {
		name string
		r    io.Reader
	}{
		{"many lines", &endless{head: "Name,Age,Sex,Tests\nA,1,M,\"CBC\n", row: "B,2,F,ESR\n", left: size}},
		{"one endless line", &endless{head: "Name,Age,Sex,Tests\nA,1,M,\"CBC", row: "B;2;F;ESR ", left: size}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cr := &countingReader{r: tt.r}
			_, err := sheet.ReadGridCSV(t.Context(), cr, sheet.GridOptions{}, func(sheet.GridRow) error { return nil })
			var le *sheet.LimitError
			if !errors.As(err, &le) || !errors.Is(err, sheet.ErrRefused) {
				t.Fatalf("err = %v, want a *LimitError", err)
			}
			// On many lines the cell passes its bound first; on one, the
			// line its row's.
			if le.What != "cell" && le.What != "row" || le.Row != 2 || le.Line != 2 || !strings.Contains(err.Error(), `a double quote mark opened on line 2 is probably never closed`) {
				t.Errorf("err = %v (%+v), want row 2 refused, its quote opened on line 2", err, le)
			}
			if cr.n > 2*sheet.MaxRowBytes {
				t.Errorf("read %d bytes of %d before refusing", cr.n, size)
			}
		})
	}
}

// A row too wide for a spreadsheet, or too long for a booking, is refused
// without holding it.
func TestCSVRowBounds(t *testing.T) {
	tests := []struct {
		name, data string
		what       string
	}{
		{"more columns than Excel has", "Name,Age,Sex,Tests\n" + strings.Repeat(",", sheet.MaxColumns) + "\n", "columns"},
		{"a line over the row's bound", "Name,Age,Sex,Tests\nA,1,M," + strings.Repeat("ab,", sheet.MaxRowBytes) + "\n", "row"},
		{"an unquoted cell over the cap", "Name,Age,Sex,Tests\nA,1,M," + strings.Repeat("x", sheet.MaxCell+1) + "\n", "cell"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := recordsOf(t, writeFile(t, "p.csv", []byte(tt.data)), sheet.Options{})
			var le *sheet.LimitError
			if !errors.As(err, &le) || le.What != tt.what || le.Row != 2 {
				t.Errorf("err = %v, want a *LimitError for the %s of row 2", err, tt.what)
			}
		})
	}
}

// A line break in a single-line field is handed over as a CellProblem
// naming the line the quote opened on; the rows after go on as rows. A
// list of tests one per line is a list; a tests cell holding what looks
// like a whole row (a quote that swallowed the next patient) is not.
func TestCSVLineBreakProblem(t *testing.T) {
	data := "Name,Age,Sex,Tests,Mobile\n" +
		"A One,1,M,CBC,1\n" +
		"\"B\nTwo\",2,F,\"ESR\nTSH\",\"98\n99\"\n" +
		"C Three,3,M,ESR,3\n"
	got, err := recordsOf(t, writeFile(t, "p.csv", []byte(data)), sheet.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 || got[1].Row != 3 || got[1].Line != 3 || got[2].Row != 4 || got[2].Line != 7 {
		t.Fatalf("records %+v", got)
	}
	want := []sheet.CellProblem{
		{Field: sheet.Name, Column: 0, Header: "Name", Code: sheet.ProblemLineBreak, Line: 3},
	}
	if d := cmp.Diff(want, got[1].Problems); d != "" {
		t.Errorf("problems (-want +got):\n%s", d)
	}
	if got[0].Problems != nil || got[2].Problems != nil {
		t.Errorf("problems on clean rows: %+v, %+v", got[0].Problems, got[2].Problems)
	}
	msg := got[1].Problems[0].Msg()
	if !strings.Contains(msg, `the name cell (column A, "Name") holds a line break: the double quote mark opened on line 3`) || strings.Contains(msg, "Two") {
		t.Errorf("Msg = %q", msg)
	}
}

// A NUL, a control character or bytes that are not text in one cell make
// a problem of that cell, made safe; the rest of the file goes on.
func TestBadCharactersCSV(t *testing.T) {
	data := "Name,Age,Sex,Tests,Notes\n" +
		"Asha Rao,30,F,CBC,ok\n" +
		"Ra\x00vi,40,M,E\x01SR,n\x00\n" +
		"Meera\tK,50,F,TSH,\x1b\n"
	got, err := recordsOf(t, writeFile(t, "p.csv", []byte(data)), sheet.Options{KeepRaw: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 {
		t.Fatalf("%d records, want 3", len(got))
	}
	want := []sheet.CellProblem{
		{Field: sheet.Name, Column: 0, Header: "Name", Code: sheet.ProblemBadCharacters, Line: 3},
		{Field: sheet.Tests, Column: 3, Header: "Tests", Code: sheet.ProblemBadCharacters, Line: 3},
	}
	if d := cmp.Diff(want, got[1].Problems); d != "" {
		t.Errorf("problems (-want +got):\n%s", d)
	}
	if got[1].Get(sheet.Name) != "Ra\uFFFDvi" || got[1].Get(sheet.Tests) != "E\uFFFDSR" {
		t.Errorf("cells %q %q, want the bad characters replaced", got[1].Get(sheet.Name), got[1].Get(sheet.Tests))
	}
	if d := cmp.Diff([]string{"Ra\uFFFDvi", "40", "M", "E\uFFFDSR", "n\uFFFD"}, got[1].Raw); d != "" {
		t.Errorf("raw cells (-want +got):\n%s", d)
	}
	// A tab is text; a bad character in an unmapped column is no problem
	// of the booking's, but is still made safe.
	if got[0].Problems != nil || got[2].Problems != nil || got[2].Get(sheet.Name) != "Meera\tK" || got[2].Raw[4] != "\uFFFD" {
		t.Errorf("rows 2 and 4: %+v / %+v", got[0], got[2])
	}
	msg := got[1].Problems[0].Msg()
	if !strings.Contains(msg, `the name cell (column A, "Name") holds characters that are not text`) || strings.Contains(msg, "Ra") {
		t.Errorf("Msg = %q", msg)
	}
}

// In an XLSX, Excel writes a control character as _x0001_; excelize reads
// it back as the character. A line break (Alt+Enter) in a name is a
// problem too.
func TestBadCharactersXLSX(t *testing.T) {
	sst := sstStart + headerSST + `<si><t>Ra_x0000_vi</t></si><si><t>E_x0001_SR</t></si><si><t xml:space="preserve">Asha` + "\n" + `Rao</t></si>` + sstEnd
	p := writeParts(t, text(sheetStart+headerRow+
		`<row r="2"><c r="A2" t="s"><v>4</v></c><c r="B2"><v>40</v></c><c r="C2" t="inlineStr"><is><t>M</t></is></c><c r="D2" t="s"><v>5</v></c></row>`+
		`<row r="3"><c r="A3" t="s"><v>6</v></c><c r="B3"><v>30</v></c><c r="C3" t="inlineStr"><is><t>F</t></is></c><c r="D3" t="inlineStr"><is><t>CBC</t></is></c></row>`+
		inlineRow(4, "Meera", "50", "F", "TSH")+sheetEnd), text(sst))
	got, err := recordsOf(t, p, sheet.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 {
		t.Fatalf("%d records, want 3", len(got))
	}
	want := [][]sheet.CellProblem{
		{{Field: sheet.Name, Column: 0, Header: "Patient Name", Code: sheet.ProblemBadCharacters}, {Field: sheet.Tests, Column: 3, Header: "Tests", Code: sheet.ProblemBadCharacters}},
		{{Field: sheet.Name, Column: 0, Header: "Patient Name", Code: sheet.ProblemLineBreak}},
		nil,
	}
	for i, r := range got {
		if d := cmp.Diff(want[i], r.Problems); d != "" {
			t.Errorf("row %d problems (-want +got):\n%s", r.Row, d)
		}
		for _, f := range sheet.Fields() {
			if v := r.Get(f); strings.ContainsAny(v, "\x00\x01") || !utf8.ValidString(v) {
				t.Errorf("row %d %s = %q", r.Row, f, v)
			}
		}
	}
}

func TestCleanCell(t *testing.T) {
	for _, tt := range []struct {
		in, want string
		bad      bool
	}{
		{"Asha Rao", "Asha Rao", false},
		{"Zoë\tनाम\r\n\uFFFD", "Zoë\tनाम\r\n\uFFFD", false},
		{"a\x00b", "a\uFFFDb", true},
		{"\x1f\x7f", "\uFFFD\x7f", true},
		{"Zo\xEB", "Zo\uFFFD", true},
		{"\xE0\xA4", "\uFFFD\uFFFD", true}, // a sequence cut short
		{"नाम\xff", "नाम\uFFFD", true},
	} {
		got, bad := sheet.CleanCell(tt.in)
		if got != tt.want || bad != tt.bad {
			t.Errorf("CleanCell(%q) = %q, %v; want %q, %v", tt.in, got, bad, tt.want, tt.bad)
		}
	}
}

// The no-header error says what was looked at and for, never what the
// rows hold: the first rows of a sheet with no header are patients.
func TestNoHeaderQuotesNoCell(t *testing.T) {
	data := "Asha Rao,9876543210,asha@example.com\nRavi Kumar,9876500000,ravi@example.com,Pune\n\n"
	_, err := recordsOf(t, writeFile(t, "p.csv", []byte(data)), sheet.Options{Aliases: map[sheet.Field][]string{sheet.Name: {"Naam"}}})
	if !errors.Is(err, sheet.ErrNoHeader) {
		t.Fatalf("err = %v, want ErrNoHeader", err)
	}
	msg := err.Error()
	for _, cell := range []string{"Asha", "Ravi", "98765", "example.com", "Pune"} {
		if strings.Contains(msg, cell) {
			t.Errorf("the message quotes a cell (%s): %s", cell, msg)
		}
	}
	for _, want := range []string{"2 rows (rows 1 to 2) with 3 to 4 columns", `patient name ('naam', 'name', 'patient name'`, `gender ('gender', 'sex'`, "partners.<name>.columns"} {
		if !strings.Contains(msg, want) {
			t.Errorf("the message lacks %q: %s", want, msg)
		}
	}
}

// A row that is half a header (some cells name columns, others hold a
// patient's details) is reported by the names it has; the rest are only
// counted.
func TestHalfHeaderQuotesOnlyNames(t *testing.T) {
	data := "Name,Age,Asha Rao,9876543210\nRavi,40,M,CBC\n"
	_, err := recordsOf(t, writeFile(t, "p.csv", []byte(data)), sheet.Options{})
	if !errors.Is(err, sheet.ErrNoHeader) {
		t.Fatalf("err = %v, want ErrNoHeader", err)
	}
	msg := err.Error()
	if strings.Contains(msg, "Asha") || strings.Contains(msg, "98765") {
		t.Errorf("the message quotes a patient's cell: %s", msg)
	}
	if !strings.Contains(msg, `has ['Name', 'Age'] (and 2 other columns) but lacks gender`) {
		t.Errorf("the message does not name what the header has: %s", msg)
	}
	// The names it recognised are flabsync's words: what leaves the
	// ledger (redact.Show, which hides double-quoted cells) keeps them.
	if shown := redact.Show(msg).String(); shown != msg {
		t.Errorf("shown, the message loses words:\n%s\n%s", msg, shown)
	}
}

// Texts quoted in messages are cut on a character boundary.
func TestExcerpt(t *testing.T) {
	for _, tt := range []struct {
		in   string
		n    int
		want string
	}{
		{"Patient Name", 40, "Patient Name"},
		{"abcdef", 3, "abc…"},
		{"नामनाम", 4, "न…"}, // न is 3 bytes: the cut at 4 falls in the second character
		{"नामनाम", 6, "ना…"},
		{"😀😀", 5, "😀…"},
		{"😀😀", 3, "…"},
		{"\xff\xfe\xfd\xfc\xfb", 2, "\xff\xfe…"},
	} {
		got := sheet.Excerpt(tt.in, tt.n)
		if got != tt.want {
			t.Errorf("Excerpt(%q, %d) = %q, want %q", tt.in, tt.n, got, tt.want)
		}
		if utf8.ValidString(tt.in) && !utf8.ValidString(got) {
			t.Errorf("Excerpt(%q, %d) = %q is not UTF-8", tt.in, tt.n, got)
		}
	}
	// A long multi-byte header in a message is cut whole.
	header := strings.Repeat("नाम", 30) + ",Age,Phone\nA,1,2\n"
	_, err := recordsOf(t, writeFile(t, "p.csv", []byte(header)), sheet.Options{Aliases: map[sheet.Field][]string{sheet.Name: {strings.Repeat("नाम", 30)}}})
	if !errors.Is(err, sheet.ErrNoHeader) || !utf8.ValidString(err.Error()) || !strings.Contains(err.Error(), "…") || strings.Contains(err.Error(), strings.Repeat("नाम", 14)) {
		t.Errorf("err = %v, want the header cut short on a character boundary", err)
	}
}

// FuzzCSVMatchesEncodingCSV: the bounded CSV reader splits text into the
// same rows, at the same row numbers, as encoding/csv with LazyQuotes —
// the reader it replaces — wherever it does not refuse the text.
func FuzzCSVMatchesEncodingCSV(f *testing.F) {
	for _, s := range []string{
		"a,b\n\"c\nd\",e\r\n\n,,\n",
		"t\n\n\"a\"b,\"c\"\"d\",\"e\"\n",
		"x;y\r\n\"1;2\";3\r\n\r\n\"\"\n",
		"a\rb,c\r",
		"\"a\",\n\"b\"\"\",\"\"\"\"\n",
		"q\n\"a\" b,c\n\"d\"\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if !utf8.Valid(data) || bytes.ContainsFunc(data, func(r rune) bool { return r < 0x20 && r != '\t' && r != '\n' && r != '\r' }) ||
			bytes.HasPrefix(data, []byte("\xEF\xBB\xBF")) {
			t.Skip("encoding and bad characters are another matter")
		}
		var got []sheet.GridRow
		_, err := sheet.ReadGridCSV(t.Context(), bytes.NewReader(data), sheet.GridOptions{}, func(r sheet.GridRow) error {
			got = append(got, r)
			return nil
		})
		want := encodingCSV(t, data)
		if err != nil {
			if !errors.Is(err, sheet.ErrRefused) {
				t.Fatalf("err = %v, want a refusal", err)
			}
			want = want[:min(len(want), len(got))] // the rows before the refusal
		}
		if d := cmp.Diff(want, got, cmpopts.EquateEmpty()); d != "" {
			t.Fatalf("rows differ from encoding/csv's (-want +got):\n%s", d)
		}
	})
}

func TestCSVSwallowedRowInTests(t *testing.T) {
	data := "Name,Age,Sex,Tests,Mobile\n" +
		"A One,1,M,\"CBC\nB Two,2,F,ESR,2\",1\n"
	got, err := recordsOf(t, writeFile(t, "p.csv", []byte(data)), sheet.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || len(got[0].Problems) != 1 || got[0].Problems[0].Field != sheet.Tests || got[0].Problems[0].Code != sheet.ProblemLineBreak {
		t.Errorf("a tests cell holding a whole row: %+v", got)
	}
}
