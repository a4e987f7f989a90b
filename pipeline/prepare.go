package pipeline

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/flabsync/flabsync/internal/sheet"
)

// Prepared is one row with its cells parsed: the part of normalisation
// that depends on the row alone, so it can run ahead of (and beside) the
// order-dependent grouping and duplicate checks.
type Prepared struct {
	In          Input
	ref         string // normalised booking reference
	first, last string
	gender      string
	bookingDate time.Time
	age         Age
	tests, pkgs []string
	errs        []fieldErr // the row's own faults, in field order
	cellErrs    []fieldErr // of errs, what the reader found in the cells (a line break, bad characters)
}

// Prepare parses in. now stands in for the booking date of rows without
// one.
func Prepare(in Input, now time.Time) Prepared {
	p := Prepared{In: in, ref: normRef(in.Ref), tests: SplitItems(in.Tests), pkgs: SplitItems(in.Packages)}
	fail := func(field, code string, err error) { p.errs = append(p.errs, fieldErr{field, code, err.Error()}) }
	// The cells' own problems come first: the row's code is theirs.
	for _, cp := range in.Problems {
		field := cp.Field.String()
		if cp.Field == sheet.FirstName || cp.Field == sheet.LastName {
			field = "name"
		}
		fe := fieldErr{field, cp.Code, cp.Msg()}
		p.errs, p.cellErrs = append(p.errs, fe), append(p.cellErrs, fe)
	}
	if in.Name != "" && in.FirstName == "" {
		p.first, p.last = SplitName(in.Name)
	} else {
		p.first, p.last = CleanName(in.FirstName), CleanName(in.LastName)
	}
	if p.first == "" {
		if p.last != "" { // a surname alone: Flabs requires first_name
			fail("name", CodeMissingName, errors.New("first name is empty (only a last name is given)"))
		} else {
			fail("name", CodeMissingName, errors.New("patient name is empty"))
		}
	}
	if g, err := ParseGender(in.Gender); err != nil {
		code := CodeBadGender
		if errors.Is(err, errGenderEmpty) {
			code = CodeMissingGender
		}
		fail("gender", code, err)
	} else {
		p.gender = g
	}
	on := now
	if strings.TrimSpace(in.BookingDate) != "" {
		if d, err := ParseDate(in.BookingDate, now); err != nil {
			fail("booking_date", CodeBadBookingDate, fmt.Errorf("booking date: %w", err))
		} else {
			p.bookingDate, on = d, d
		}
	}
	switch {
	case strings.TrimSpace(in.Age) != "":
		if a, err := ParseAge(in.Age, in.AgeUnit); err != nil {
			fail("age", CodeBadAge, err)
		} else {
			p.age = a
		}
	case strings.TrimSpace(in.DOB) != "":
		dob, err := ParseDate(in.DOB, now)
		if err == nil {
			p.age, err = AgeFromDOB(dob, on)
		} else {
			err = fmt.Errorf("date of birth: %w", err)
		}
		if err != nil {
			fail("dob", CodeBadDOB, err)
		}
	default:
		fail("age", CodeMissingAge, errors.New("neither age nor date of birth is given"))
	}
	return p
}
