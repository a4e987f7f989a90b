package sheet

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"

	"golang.org/x/text/encoding/charmap"
	"golang.org/x/text/encoding/unicode"
	"golang.org/x/text/transform"
)

// sniffSize is how much of a CSV is looked at to pick encoding and
// delimiter.
const sniffSize = 64 << 10

func readCSV(ctx context.Context, path string, opts Options, dict dictionary, fn func(*Record) error) (Summary, error) {
	sum := Summary{Format: "csv"}
	f, _, err := openFile(path)
	if err != nil {
		return sum, err
	}
	defer f.Close()
	rows, err := newCSVRows(f)
	if err != nil {
		return sum, err
	}
	sum.Encoding, sum.Delimiter = rows.enc, delimName(rows.delim)
	em := newEmitter(ctx, dict, &sum, fn)
	em.raw = opts.KeepRaw
	for {
		row, rec, gap, err := rows.next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return sum, err
		}
		if em.lay != nil {
			sum.Blank += gap
		}
		em.lines = rows.cr.starts
		if err := em.row(row, rec); err != nil {
			return sum, err
		}
	}
	return sum, em.done()
}

// csvRows reads CSV text record by record, numbering records as the rows
// a person sees when the file is opened in a spreadsheet.
type csvRows struct {
	cr      *csvReader
	enc     string // as DecodeText names it
	delim   rune
	row     int // the sheet row of the last record
	lastEnd int // the line the last record ended on
}

// newCSVRows decodes r (DecodeText) and sniffs its delimiter.
func newCSVRows(r io.Reader) (*csvRows, error) {
	text, enc, err := DecodeText(r)
	if err != nil {
		return nil, err
	}
	br := bufio.NewReaderSize(text, sniffSize)
	sample, err := br.Peek(sniffSize)
	if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, bufio.ErrBufferFull) {
		return nil, err
	}
	delim := SniffDelimiter(sample)
	return &csvRows{cr: &csvReader{br: br, comma: byte(delim)}, enc: enc, delim: delim}, nil
}

// next returns the next record (reused by the following call), its sheet
// row, and how many empty lines came just before it; io.EOF at the end.
// Cells that are not UTF-8 are read as Windows-1252. A cell over MaxCell,
// a row over MaxRowBytes or MaxColumns, and a quote never closed are
// refusals (ErrRefused) naming the row and the line.
func (c *csvRows) next() (row int, rec []string, gap int, err error) {
	if err := c.cr.read(); err != nil {
		var ce *csvError
		if errors.As(err, &ce) {
			first := c.cr.first
			if first == 0 || first > ce.line {
				first = ce.line
			}
			return 0, nil, 0, ce.refusal(c.row + max(0, first-c.lastEnd-1) + 1)
		}
		if errors.Is(err, io.EOF) {
			return 0, nil, 0, io.EOF
		}
		return 0, nil, 0, fmt.Errorf("row %d: %w", c.row+1, err)
	}
	rec = c.cr.rec
	start := c.cr.starts[0]
	// Empty lines are skipped; a person opening the file still sees them
	// as rows, so count them.
	gap = max(0, start-c.lastEnd-1)
	c.row += gap + 1
	for i, cell := range rec {
		if !utf8.ValidString(cell) {
			cell = decode1252(cell) // never shorter
			if len(cell) > MaxCell {
				return 0, nil, 0, (&csvError{what: "cell", line: c.cr.starts[i], size: int64(len(cell))}).refusal(c.row)
			}
			rec[i] = cell
		}
	}
	c.lastEnd = c.cr.line
	return c.row, rec, gap, nil
}

// DecodeText picks the file's encoding from its byte-order mark or, failing
// that, from whether the start is valid UTF-8 (else Windows-1252, what
// Excel on Windows writes as "CSV").
func DecodeText(f io.Reader) (io.Reader, string, error) {
	br := bufio.NewReaderSize(f, sniffSize)
	head, err := br.Peek(sniffSize)
	if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, bufio.ErrBufferFull) {
		return nil, "", err
	}
	switch {
	case bytes.HasPrefix(head, []byte{0xEF, 0xBB, 0xBF}):
		br.Discard(3)
		return br, "utf-8-bom", nil
	case bytes.HasPrefix(head, []byte{0xFF, 0xFE}):
		return transform.NewReader(br, unicode.UTF16(unicode.LittleEndian, unicode.UseBOM).NewDecoder()), "utf-16le", nil
	case bytes.HasPrefix(head, []byte{0xFE, 0xFF}):
		return transform.NewReader(br, unicode.UTF16(unicode.BigEndian, unicode.UseBOM).NewDecoder()), "utf-16be", nil
	}
	switch utf16NoBOM(head) {
	case "utf-16le":
		return transform.NewReader(br, unicode.UTF16(unicode.LittleEndian, unicode.IgnoreBOM).NewDecoder()), "utf-16le", nil
	case "utf-16be":
		return transform.NewReader(br, unicode.UTF16(unicode.BigEndian, unicode.IgnoreBOM).NewDecoder()), "utf-16be", nil
	}
	if !utf8.Valid(trimPartialRune(head)) {
		return transform.NewReader(br, charmap.Windows1252.NewDecoder()), "windows-1252", nil
	}
	return br, "utf-8", nil
}

// trimPartialRune drops an incomplete UTF-8 sequence cut off at the end of
// a sample.
func trimPartialRune(b []byte) []byte {
	for i := 1; i <= 3 && i <= len(b); i++ {
		c := b[len(b)-i]
		if c < 0x80 {
			return b
		}
		if utf8.RuneStart(c) {
			if !utf8.FullRune(b[len(b)-i:]) {
				return b[:len(b)-i]
			}
			return b
		}
	}
	return b
}

// decode1252 reads a cell that is not UTF-8 as Windows-1252: files that
// start as ASCII can still carry a "é" from Excel far down.
func decode1252(s string) string {
	out, err := charmap.Windows1252.NewDecoder().String(s)
	if err != nil {
		return strings.ToValidUTF8(s, "\uFFFD")
	}
	return out
}

var delimiters = []rune{',', ';', '\t', '|'}

// SniffDelimiter picks the delimiter that splits the most sample lines
// into the same number of fields (quotes respected within a line).
func SniffDelimiter(sample []byte) rune {
	lines := bytes.Split(sample, []byte("\n"))
	if len(lines) > 1 && len(sample) == sniffSize {
		lines = lines[:len(lines)-1] // the last line may be cut
	}
	if len(lines) > 100 {
		lines = lines[:100]
	}
	best, bestScore, bestWidth := ',', 0, 0
	for _, d := range delimiters {
		counts := map[int]int{}
		for _, l := range lines {
			if n := countOutsideQuotes(l, byte(d)); n > 0 {
				counts[n]++
			}
		}
		score, width := 0, 0
		for w, c := range counts {
			if c > score || (c == score && w > width) {
				score, width = c, w
			}
		}
		if score > bestScore || (score == bestScore && score > 0 && width > bestWidth) {
			best, bestScore, bestWidth = d, score, width
		}
	}
	return best
}

func countOutsideQuotes(line []byte, d byte) int {
	n, quoted := 0, false
	for _, c := range line {
		switch {
		case c == '"':
			quoted = !quoted
		case c == d && !quoted:
			n++
		}
	}
	return n
}

func delimName(d rune) string {
	if d == '\t' {
		return "tab"
	}
	return string(d)
}
