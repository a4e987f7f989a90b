package sheet

import (
	"context"
	"strings"
)

// emitter turns a sheet's rows, in order, into Records: it finds the
// header, skips blank, repeated-header and total rows, and joins
// multi-column fields.
type emitter struct {
	ctx    context.Context
	finder headerFinder
	lay    *layout
	sum    *Summary
	fn     func(*Record) error
	fix    func(f Field, v string) string // per-format cell typing, may be nil
	rec    Record
	n      int
	raw    bool  // keep each record's cells as written (Options.KeepRaw)
	lines  []int // CSV: the line each cell of the row being given began on; nil for XLSX
	bad    []int // columns of the row whose cells held characters that are not text
}

func newEmitter(ctx context.Context, dict dictionary, sum *Summary, fn func(*Record) error) *emitter {
	return &emitter{ctx: ctx, finder: headerFinder{dict: dict}, sum: sum, fn: fn}
}

// row takes sheet row num (as a person sees it) and its cells, which it
// may change: characters that are not text are replaced (cleanCell)
// before anything else looks at them. Before the header is found it
// returns an ErrNoHeader error once the scan window is passed; after, an
// error from fn.
func (e *emitter) row(num int, cells []string) error {
	if e.n++; e.n&1023 == 0 {
		if err := e.ctx.Err(); err != nil {
			return err
		}
	}
	e.bad = e.bad[:0]
	for i, c := range cells {
		if c, bad := cleanCell(c); bad {
			cells[i] = c
			e.bad = append(e.bad, i)
		}
	}
	if e.lay == nil {
		if l := e.finder.offer(num, cells); l != nil {
			e.lay = l
			e.sum.HeaderRow = num
			e.sum.Headers = l.headers
			e.sum.Columns = map[string]int{}
			for f, cols := range l.cols {
				if len(cols) > 0 {
					e.sum.Columns[Field(f).String()] = cols[0]
				}
			}
			return nil
		}
		if !isBlank(cells) {
			e.sum.Skipped = append(e.sum.Skipped, Skip{Row: num, Why: "above the header row"})
		}
		if e.finder.seen >= headerScanRows {
			return e.finder.failure()
		}
		return nil
	}
	if isBlank(cells) {
		e.sum.Blank++
		return nil
	}
	if e.repeatedHeader(cells) {
		e.sum.Skipped = append(e.sum.Skipped, Skip{Row: num, Why: "repeated header row"})
		return nil
	}
	e.rec = Record{Row: num, Sheet: e.sum.Sheet}
	if len(e.lines) > 0 {
		e.rec.Line = e.lines[0]
	}
	if e.raw {
		e.rec.Raw = append([]string(nil), cells...)
	}
	for f, cols := range e.lay.cols {
		switch len(cols) {
		case 0:
		case 1:
			e.rec.cells[f] = cell(cells, cols[0])
		default:
			var parts []string
			for _, c := range cols {
				if v := cell(cells, c); v != "" {
					parts = append(parts, v)
				}
			}
			e.rec.cells[f] = strings.Join(parts, "; ")
		}
		if e.fix != nil && e.rec.cells[f] != "" {
			e.rec.cells[f] = e.fix(Field(f), e.rec.cells[f])
		}
		for _, c := range cols {
			e.check(Field(f), c, cells)
		}
	}
	if why := totalRow(&e.rec, cells); why != "" {
		e.sum.Skipped = append(e.sum.Skipped, Skip{Row: num, Why: why})
		return nil
	}
	e.sum.Records++
	return e.fn(&e.rec)
}

// check adds the problems of the cell in column c, read into field f, to
// the record.
func (e *emitter) check(f Field, c int, cells []string) {
	if c >= len(cells) {
		return
	}
	problem := func(code string) {
		p := CellProblem{Field: f, Column: c, Code: code}
		if c < len(e.lay.headers) {
			p.Header = excerpt(e.lay.headers[c], maxQuoted)
		}
		if c < len(e.lines) {
			p.Line = e.lines[c]
		}
		e.rec.Problems = append(e.rec.Problems, p)
	}
	for _, b := range e.bad {
		if b == c {
			problem(ProblemBadCharacters)
		}
	}
	if v := strings.TrimSpace(cells[c]); f.SingleLine() && hasLineBreak(v) {
		// A list of tests or packages may be written one per line (Alt+Enter
		// in Excel, a quoted cell in CSV): that is a list, not a problem —
		// unless a line of it looks like a whole row of the sheet (the
		// quote was left open and swallowed the next patient's row).
		if (f != Tests && f != Packages) || e.holdsARow(v) {
			problem(ProblemLineBreak)
		}
	}
}

// holdsARow reports whether a line after the first of a multi-line cell
// has as many separators as a row of this sheet: a swallowed row.
func (e *emitter) holdsARow(v string) bool {
	width := len(e.lay.headers)
	lines := strings.FieldsFunc(v, func(r rune) bool { return r == '\n' || r == '\r' })
	for _, l := range lines[min(1, len(lines)):] {
		n := 0
		for _, sep := range delimiters {
			n = max(n, strings.Count(l, string(sep)))
		}
		if n >= max(2, width-2) {
			return true
		}
	}
	return false
}

// done reports a sheet that ended before a header was found.
func (e *emitter) done() error {
	if e.lay == nil {
		return e.finder.failure()
	}
	return nil
}

func cell(cells []string, i int) string {
	if i < len(cells) {
		return strings.TrimSpace(cells[i])
	}
	return ""
}

// repeatedHeader spots the header row again (sheets pasted together):
// three or more cells equal to the header's own text in their columns.
func (e *emitter) repeatedHeader(cells []string) bool {
	hits := 0
	for _, cols := range e.lay.cols {
		for _, c := range cols {
			if c < len(cells) && c < len(e.lay.headers) && e.lay.headers[c] != "" &&
				strings.EqualFold(strings.TrimSpace(cells[c]), e.lay.headers[c]) {
				hits++
			}
		}
	}
	return hits >= 3
}

// totalRow recognises a total or summary line: a first non-empty cell
// starting with a total word and no patient on the row.
func totalRow(r *Record, cells []string) string {
	if r.Get(Gender) != "" || (r.Get(Age) != "" && r.Get(Name)+r.Get(FirstName) != "") {
		return ""
	}
	first := ""
	for _, c := range cells {
		if c = strings.TrimSpace(c); c != "" {
			first = c
			break
		}
	}
	k := normHeader(first)
	for _, w := range []string{"total", "grand total", "sub total", "subtotal", "totals", "summary", "count", "sum", "no of bookings", "number of bookings", "total bookings"} {
		if k == w || strings.HasPrefix(k, w+" ") {
			return "total/summary row (" + excerpt(first, maxQuoted) + ")"
		}
	}
	return ""
}
