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
	raw    bool // keep each record's cells as written (Options.KeepRaw)
}

func newEmitter(ctx context.Context, dict dictionary, sum *Summary, fn func(*Record) error) *emitter {
	return &emitter{ctx: ctx, finder: headerFinder{dict: dict}, sum: sum, fn: fn}
}

// row takes sheet row num (as a person sees it). Before the header is found
// it reports (false, nil) while still looking and an ErrNoHeader error when
// the scan window is passed.
func (e *emitter) row(num int, cells []string) error {
	if e.n++; e.n&1023 == 0 {
		if err := e.ctx.Err(); err != nil {
			return err
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
	}
	if why := totalRow(&e.rec, cells); why != "" {
		e.sum.Skipped = append(e.sum.Skipped, Skip{Row: num, Why: why})
		return nil
	}
	e.sum.Records++
	return e.fn(&e.rec)
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
			return "total/summary row (" + first + ")"
		}
	}
	return ""
}
