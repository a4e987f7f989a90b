package pipeline

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// textLayouts are the written-out date forms ParseDate accepts.
var textLayouts = []string{
	"2006-01-02", "2006-01-02T15:04:05Z07:00", "2006-01-02T15:04:05", "2006-01-02 15:04:05", "2006-01-02 15:04",
	"2-Jan-2006", "2-Jan-06", "2 Jan 2006", "2 January 2006", "2-January-2006", "Jan 2, 2006", "January 2, 2006",
	"2 Jan, 2006", "Jan-2-2006",
}

// ParseDate reads a date cell. The readers turn Excel date cells into ISO
// (2006-01-02); text dates come in many forms. Numeric dates are read day
// first (dd/mm/yyyy, as Indian clinics write them), with /, - or . between
// the parts; a date that can only be month first (the second number over
// 12) is read that way. Two-digit years are 20xx unless that is in the future,
// then 19xx. A time after the date is ignored.
func ParseDate(s string, now time.Time) (time.Time, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}, fmt.Errorf("date is empty")
	}
	// Numbers first: it is what almost every row holds, and cheap.
	if t, ok, err := numericDate(s, now); ok {
		return t, err
	}
	for _, l := range textLayouts {
		if t, err := time.Parse(l, s); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("date %q is not a date (use dd/mm/yyyy or yyyy-mm-dd)", s)
}

// numericDate reads d/m/y, y-m-d and the like; ok is false when s does not
// have that shape at all.
func numericDate(s string, now time.Time) (_ time.Time, ok bool, _ error) {
	datePart, _, _ := strings.Cut(s, " ")
	parts := strings.FieldsFunc(datePart, func(r rune) bool { return r == '/' || r == '-' || r == '.' })
	if len(parts) != 3 {
		return time.Time{}, false, nil
	}
	var n [3]int
	for i, p := range parts {
		v, err := strconv.Atoi(p)
		if err != nil || v < 0 {
			return time.Time{}, false, nil
		}
		n[i] = v
	}
	var y, m, d int
	switch {
	case len(parts[0]) == 4: // yyyy/mm/dd
		y, m, d = n[0], n[1], n[2]
	case n[1] > 12 && n[0] <= 12: // only month-first makes sense
		m, d, y = n[0], n[1], n[2]
	default:
		d, m, y = n[0], n[1], n[2]
	}
	if len(parts[2]) == 2 && len(parts[0]) != 4 {
		if y += 2000; y > now.Year() {
			y -= 100
		}
	}
	t := time.Date(y, time.Month(m), d, 0, 0, 0, 0, time.UTC)
	if m < 1 || m > 12 || d < 1 || t.Day() != d || y < 1850 || y > 2200 {
		return time.Time{}, true, fmt.Errorf("date %q is not a real date", s)
	}
	return t, true, nil
}
