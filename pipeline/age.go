package pipeline

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/flabsync/flabsync/internal/flabs"
)

// Age is a patient's age as Flabs takes it: a whole number and a unit.
type Age struct {
	Value int
	Unit  string // flabs.AgeYear, AgeMonth or AgeDay
}

// Limits beyond which an age is taken for a typo.
const (
	MaxAgeYears  = 130
	MaxAgeMonths = 24 * 12
	MaxAgeDays   = 5 * 366
)

var (
	errAgeEmpty = errors.New("age is empty")
	errAgeUnit  = errors.New("unknown age unit")
)

// unitWords maps the ways sheets write an age unit to Flabs' unit.
var unitWords = map[string]string{
	"y": flabs.AgeYear, "yr": flabs.AgeYear, "yrs": flabs.AgeYear, "year": flabs.AgeYear, "years": flabs.AgeYear,
	"yer": flabs.AgeYear, "yo": flabs.AgeYear, "a": flabs.AgeYear,
	"m": flabs.AgeMonth, "mo": flabs.AgeMonth, "mon": flabs.AgeMonth, "mos": flabs.AgeMonth, "mth": flabs.AgeMonth,
	"mths": flabs.AgeMonth, "month": flabs.AgeMonth, "months": flabs.AgeMonth,
	"d": flabs.AgeDay, "dy": flabs.AgeDay, "dys": flabs.AgeDay, "day": flabs.AgeDay, "days": flabs.AgeDay,
	"w": "week", "wk": "week", "wks": "week", "week": "week", "weeks": "week",
}

// ParseAge reads an age cell and, when the sheet has one, its unit cell.
// It accepts "32", "32 Y", "32yrs", "6 M", "6 months", "10 D", "10 days",
// "2 weeks" (as days), "1 Y 6 M" (as 18 months) and numbers stored as
// floats ("32.0"). A fraction moves to the next smaller unit ("1.5 years"
// is 18 months). A unit in the age cell wins over the unit column; with
// neither, years. Ages over MaxAgeYears (or the month/day limits) are
// refused as typos.
func ParseAge(ageText, unitText string) (Age, error) {
	s := strings.ToLower(strings.TrimSpace(ageText))
	if s == "" {
		return Age{}, errAgeEmpty
	}
	defUnit := flabs.AgeYear
	if u := strings.Trim(strings.ToLower(strings.TrimSpace(unitText)), ".()"); u != "" {
		var ok bool
		if defUnit, ok = unitWords[u]; !ok {
			return Age{}, fmt.Errorf("age unit %q: %w (want years, months or days)", unitText, errAgeUnit)
		}
	}
	parts, err := splitAgeParts(s)
	if err != nil {
		return Age{}, err
	}
	// Express every part in the smallest unit named ("1 y 6 m" → months).
	smallest := ""
	for i := range parts {
		if parts[i].unit == "" {
			parts[i].unit = defUnit
		}
		if unitRank(parts[i].unit) > unitRank(smallest) {
			smallest = parts[i].unit
		}
	}
	var total float64
	for _, p := range parts {
		total += convert(p.value, p.unit, smallest)
	}
	if smallest == "week" {
		total, smallest = total*7, flabs.AgeDay
	}
	for total != math.Trunc(total) && smallest != flabs.AgeDay {
		next := map[string]string{flabs.AgeYear: flabs.AgeMonth, flabs.AgeMonth: flabs.AgeDay}[smallest]
		total, smallest = convert(total, smallest, next), next
	}
	v := int(math.Round(total))
	if v < 0 {
		return Age{}, fmt.Errorf("age %q is negative", ageText)
	}
	limit := map[string]int{flabs.AgeYear: MaxAgeYears, flabs.AgeMonth: MaxAgeMonths, flabs.AgeDay: MaxAgeDays}[smallest]
	if v > limit {
		return Age{}, fmt.Errorf("age %q is over %d %ss", ageText, limit, smallest)
	}
	return Age{Value: v, Unit: smallest}, nil
}

type agePart struct {
	value float64
	unit  string
}

// splitAgeParts reads "1 y 6 m", "32yrs", "32.0" into number+unit pairs.
func splitAgeParts(s string) ([]agePart, error) {
	var parts []agePart
	rest := s
	for rest = strings.TrimSpace(rest); rest != ""; rest = strings.TrimSpace(rest) {
		i := 0
		for i < len(rest) && (rest[i] >= '0' && rest[i] <= '9' || rest[i] == '.' || i == 0 && rest[i] == '-') {
			i++
		}
		if i == 0 {
			return nil, fmt.Errorf("age %q is not a number", s)
		}
		v, err := strconv.ParseFloat(rest[:i], 64)
		if err != nil || math.IsInf(v, 0) || math.IsNaN(v) {
			return nil, fmt.Errorf("age %q is not a number", s)
		}
		rest = strings.TrimLeft(rest[i:], " ")
		j := 0
		for j < len(rest) && (unicode.IsLetter(rune(rest[j])) || rest[j] == '.') {
			j++
		}
		word := strings.Trim(rest[:j], ".")
		rest = strings.TrimLeft(rest[j:], " ,/")
		unit := ""
		if word != "" {
			var ok bool
			if unit, ok = unitWords[word]; !ok {
				return nil, fmt.Errorf("age %q: %w %q (want years, months or days)", s, errAgeUnit, word)
			}
		}
		parts = append(parts, agePart{v, unit})
		if len(parts) > 3 {
			return nil, fmt.Errorf("age %q is not an age", s)
		}
	}
	return parts, nil
}

func unitRank(u string) int {
	switch u {
	case flabs.AgeYear:
		return 1
	case flabs.AgeMonth:
		return 2
	case "week":
		return 3
	case flabs.AgeDay:
		return 4
	}
	return 0
}

// convert changes v from unit a to unit b (a year is 12 months, a month 30
// days for the purpose of fractions; whole ages never go through it).
func convert(v float64, a, b string) float64 {
	if a == "" || a == b {
		return v
	}
	days := map[string]float64{flabs.AgeYear: 365, flabs.AgeMonth: 30, "week": 7, flabs.AgeDay: 1}
	if a == flabs.AgeYear && b == flabs.AgeMonth {
		return v * 12
	}
	if a == flabs.AgeMonth && b == flabs.AgeYear {
		return v / 12
	}
	return v * days[a] / days[b]
}

// AgeFromDOB computes the age on day `on` of someone born on dob, by
// calendar: whole years from the first birthday on; whole months from one
// month old; days before that. A dob after `on` is an error.
func AgeFromDOB(dob, on time.Time) (Age, error) {
	dob = time.Date(dob.Year(), dob.Month(), dob.Day(), 0, 0, 0, 0, time.UTC)
	on = time.Date(on.Year(), on.Month(), on.Day(), 0, 0, 0, 0, time.UTC)
	if dob.After(on) {
		return Age{}, fmt.Errorf("date of birth %s is after the booking date %s", dob.Format(time.DateOnly), on.Format(time.DateOnly))
	}
	months := (on.Year()-dob.Year())*12 + int(on.Month()-dob.Month())
	if on.Day() < dob.Day() {
		months--
	}
	switch {
	case months >= 12:
		if months/12 > MaxAgeYears {
			return Age{}, fmt.Errorf("date of birth %s gives an age over %d years", dob.Format(time.DateOnly), MaxAgeYears)
		}
		return Age{Value: months / 12, Unit: flabs.AgeYear}, nil
	case months >= 1:
		return Age{Value: months, Unit: flabs.AgeMonth}, nil
	}
	return Age{Value: int(on.Sub(dob).Hours() / 24), Unit: flabs.AgeDay}, nil
}
