package pipeline

import (
	"fmt"
	"hash/maphash"
	"strings"
	"time"

	"github.com/flabsync/flabsync/internal/flabs"
)

// Normalizer turns one file's rows into bookings and rejections. Rows
// that share a booking reference and follow each other form one booking
// (the "one test per row" layout); patient cells may be left blank on the
// following rows. Within the file, a barcode or a booking seen before, or a
// reference that comes back after other rows, is rejected as a duplicate.
// Memory per file is a few bytes per booking (hashed keys).
type Normalizer struct {
	Partner string
	File    string
	Sheet   string
	Now     time.Time // the booking date for ages from a date of birth when the row has none

	seed     maphash.Seed
	barcodes map[uint64]int32 // barcode → first row
	ids      map[uint64]int32 // integrator ID (of bookings without a reference) → first row
	refs     map[uint64]int32 // references → first row
	open     *group
}

// Result is what one booking or row came to: a Booking or a RowError.
type Result struct {
	Booking *Booking
	Err     *RowError
}

type group struct {
	first Input
	prep  Prepared // a copy: the caller may reuse its Prepared
	rows  []int
	tests []string
	pkgs  []string
	errs  []Result // rows of the group refused on their own
}

// NewNormalizer returns a Normalizer for one file.
func NewNormalizer(partner, file, sheet string, now time.Time) *Normalizer {
	return &Normalizer{
		Partner: partner, File: file, Sheet: sheet, Now: now,
		seed:     maphash.MakeSeed(),
		barcodes: map[uint64]int32{}, ids: map[uint64]int32{}, refs: map[uint64]int32{},
	}
}

// Add takes the next row and returns the results it completes: usually
// none or one; a grouped booking completes when a row with another
// reference (or Flush) arrives.
func (n *Normalizer) Add(in Input) []Result {
	p := Prepare(in, n.Now)
	return n.AddPrepared(&p)
}

// AddPrepared is Add for a row already run through Prepare (which may
// happen on another goroutine: it depends on nothing but the row).
func (n *Normalizer) AddPrepared(p *Prepared) []Result {
	in := p.In
	ref := p.ref
	if n.open != nil && ref != "" && ref == n.open.prep.ref {
		n.extend(p)
		return nil
	}
	// A row with only tests under a grouped booking continues it: that is
	// how vertically merged reference and patient cells read back.
	if n.open != nil && ref == "" && n.open.prep.ref != "" && in.patientBlank() &&
		strings.TrimSpace(in.Barcode+in.BookingDate) == "" && len(p.tests)+len(p.pkgs) > 0 {
		n.extend(p)
		return nil
	}
	out := n.Flush()
	if ref != "" {
		if row, seen := n.refs[n.key(ref)]; seen {
			return append(out, n.reject(in, "ref", CodeDuplicateRef,
				fmt.Sprintf("booking reference %q was already used on row %d, with other rows in between", in.Ref, row)))
		}
		n.refs[n.key(ref)] = int32(in.Row)
	}
	n.open = &group{first: in, prep: *p, rows: []int{in.Row}, tests: p.tests, pkgs: p.pkgs}
	return out
}

// extend adds a following row of the same reference to the open group.
func (n *Normalizer) extend(p *Prepared) {
	in := p.In
	g := n.open
	if len(p.cellErrs) > 0 { // a continuation row with a broken cell goes alone
		e := p.cellErrs[0]
		g.errs = append(g.errs, n.reject(in, e.field, e.code, e.msg))
		return
	}
	if !in.patientBlank() && !samePatient(&g.first, &in) {
		g.errs = append(g.errs, n.reject(in, "name", CodeConflictingGroup,
			fmt.Sprintf("shares booking reference %q with row %d but the patient differs (name, age, date of birth or gender)", in.Ref, g.first.Row)))
		return
	}
	g.rows = append(g.rows, in.Row)
	g.tests = appendNew(g.tests, p.tests)
	g.pkgs = appendNew(g.pkgs, p.pkgs)
}

// Flush completes the open booking, if any. Call it after the last row.
func (n *Normalizer) Flush() []Result {
	g := n.open
	if g == nil {
		return nil
	}
	n.open = nil
	res := n.build(g)
	return append([]Result{res}, g.errs...)
}

// build validates a group's cells and makes the booking.
func (n *Normalizer) build(g *group) Result {
	in := &g.first
	p := &g.prep
	b := &Booking{Partner: n.Partner, File: n.File, Sheet: n.Sheet, Row: in.Row, Rows: g.rows,
		Ref: strings.TrimSpace(in.Ref), Barcode: strings.TrimSpace(in.Barcode), Tests: g.tests, Packages: g.pkgs,
		FirstName: p.first, LastName: p.last, Gender: p.gender, BookingDate: p.bookingDate, Age: p.age}
	errs := p.errs[:len(p.errs):len(p.errs)]
	if len(b.Tests)+len(b.Packages) == 0 {
		errs = append(errs, fieldErr{"tests", CodeNoTests, "no tests or packages are listed"})
	}
	// The integrator ID is partner:reference; the webhook receiver refuses
	// longer ones, so such a booking could never be reconciled. The
	// message gives lengths, never the reference itself.
	if b.Ref != "" {
		if id := IntegratorID(b); len(id) > flabs.MaxIntegratorIDLen {
			errs = append(errs, fieldErr{"ref", CodeReferenceTooLong, fmt.Sprintf(
				"booking reference (ref column) is %d bytes long: the integrator ID %s:<reference> may be at most %d bytes, so the reference at most %d",
				len(id)-len(b.Partner)-1, b.Partner, flabs.MaxIntegratorIDLen, max(0, flabs.MaxIntegratorIDLen-len(b.Partner)-1))})
		}
	}
	if len(errs) > 0 {
		msgs := make([]string, len(errs))
		for i, e := range errs {
			msgs[i] = e.msg
		}
		return Result{Err: &RowError{File: n.File, Sheet: n.Sheet, Row: in.Row, Rows: g.rows, Ref: b.Ref,
			Field: errs[0].field, Code: errs[0].code, Msg: strings.Join(msgs, "; ")}}
	}
	b.IntegratorID = IntegratorID(b)
	if b.Barcode != "" {
		k := n.key(strings.ToUpper(b.Barcode))
		if row, seen := n.barcodes[k]; seen {
			return n.rejectResult(b, "barcode", CodeDuplicateBarcode, fmt.Sprintf("barcode %q is also on row %d", b.Barcode, row))
		}
		n.barcodes[k] = int32(b.Row)
	}
	// A booking with a reference is unique by it (Add checks references);
	// only bookings without one need their ID remembered.
	if b.Ref == "" {
		k := n.key(b.IntegratorID)
		if row, seen := n.ids[k]; seen {
			return n.rejectResult(b, "", CodeDuplicateRow, fmt.Sprintf("the same booking as row %d", row))
		}
		n.ids[k] = int32(b.Row)
	}
	return Result{Booking: b}
}

type fieldErr struct{ field, code, msg string }

func (n *Normalizer) reject(in Input, field, code, msg string) Result {
	return Result{Err: &RowError{File: n.File, Sheet: n.Sheet, Row: in.Row, Rows: []int{in.Row}, Ref: strings.TrimSpace(in.Ref), Field: field, Code: code, Msg: msg}}
}

func (n *Normalizer) rejectResult(b *Booking, field, code, msg string) Result {
	return Result{Err: &RowError{File: n.File, Sheet: n.Sheet, Row: b.Row, Rows: b.Rows, Ref: b.Ref, Field: field, Code: code, Msg: msg}}
}

func (n *Normalizer) key(s string) uint64 { return maphash.String(n.seed, s) }

// samePatient reports whether two rows of a group name the same patient
// (blank cells agree with anything).
func samePatient(a, b *Input) bool {
	same := func(x, y string) bool {
		x, y = strings.ToLower(CleanName(x)), strings.ToLower(CleanName(y))
		return x == "" || y == "" || x == y
	}
	return same(a.Name, b.Name) && same(a.FirstName, b.FirstName) && same(a.LastName, b.LastName) &&
		same(a.Gender, b.Gender) && same(a.Age, b.Age) && same(a.DOB, b.DOB)
}

// appendNew appends the items of more not already in list (any case).
func appendNew(list, more []string) []string {
	for _, m := range more {
		dup := false
		for _, l := range list {
			if strings.EqualFold(l, m) {
				dup = true
				break
			}
		}
		if !dup {
			list = append(list, m)
		}
	}
	return list
}
