package sheet

import (
	"fmt"
	"slices"
	"strings"
	"unicode"
)

// builtinHeaders are the header names recognised without configuration,
// written normalised (see normHeader).
var builtinHeaders = map[Field][]string{
	Name: {"name", "patient name", "patient", "full name", "patient full name", "name of patient",
		"patients name", "patient s name", "pt name", "customer name", "client name"},
	FirstName: {"first name", "firstname", "fname", "given name", "patient first name", "first"},
	LastName:  {"last name", "lastname", "surname", "lname", "family name", "patient last name", "last"},
	Age:       {"age", "patient age", "age yrs", "age years", "age y", "age in years", "age yr", "pt age"},
	AgeUnit:   {"age unit", "age type", "unit", "age in", "age units"},
	DOB:       {"dob", "date of birth", "birth date", "d o b", "birthdate", "birthday"},
	Gender:    {"gender", "sex", "gender sex", "sex gender", "m f", "patient gender", "pt sex"},
	Mobile: {"mobile", "phone", "contact", "mobile no", "mobile number", "phone no", "phone number",
		"contact no", "contact number", "cell", "mob no", "mobile num"},
	Email: {"email", "e mail", "email id", "email address", "mail"},
	Tests: {"tests", "test", "test name", "test names", "tests ordered", "investigations", "investigation",
		"tests requested", "test ordered", "services", "service", "test s", "lab tests", "test details"},
	Packages: {"packages", "package", "package name", "package names", "health package", "health packages", "profiles", "profile"},
	Barcode: {"barcode", "bar code", "sample id", "sample no", "barcode no", "sample barcode", "specimen id",
		"tube id", "barcode number", "sample number", "vial id"},
	Ref: {"booking id", "booking no", "booking number", "booking ref", "visit no", "visit number", "visit id",
		"ref no", "ref", "reference", "reference no", "reference number", "order id", "order no", "order number",
		"lab ref", "bill no", "registration no", "reg no", "sid", "accession no"},
	BookingDate: {"booking date", "date", "visit date", "collection date", "order date", "sample date",
		"registration date", "date of booking", "bill date"},
}

// multiColumn fields may span several columns ("Test 1", "Test 2", …);
// their cells are joined.
func multiColumn(f Field) bool { return f == Tests || f == Packages }

// dictionary maps normalised header text to fields.
type dictionary map[string]Field

func newDictionary(aliases map[Field][]string) dictionary {
	d := dictionary{}
	for f, names := range builtinHeaders {
		for _, n := range names {
			d[normHeader(n)] = f
		}
	}
	// Configured aliases win over built-in names.
	for f, names := range aliases {
		for _, n := range names {
			if k := normHeader(n); k != "" {
				d[k] = f
			}
		}
	}
	return d
}

// normHeader lower-cases a header and reduces punctuation and spacing to
// single spaces: "Patient's Name:" → "patient s name".
func normHeader(s string) string {
	var b strings.Builder
	space := false
	for _, r := range strings.ToLower(s) {
		if unicode.IsLetter(r) || unicode.IsDigit(r) {
			if space && b.Len() > 0 {
				b.WriteByte(' ')
			}
			space = false
			b.WriteRune(r)
		} else {
			space = true
		}
	}
	return b.String()
}

// lookup returns the field a header names, trying "Test 1"-style numbered
// headers for the multi-column fields.
func (d dictionary) lookup(header string) (Field, bool) {
	k := normHeader(header)
	if k == "" {
		return 0, false
	}
	if f, ok := d[k]; ok {
		return f, true
	}
	if t := strings.TrimRightFunc(k, func(r rune) bool { return unicode.IsDigit(r) || r == ' ' }); t != k && t != "" {
		if f, ok := d[t]; ok && multiColumn(f) {
			return f, true
		}
	}
	return 0, false
}

// layout is a recognised header row: for each field, the columns it is
// read from (several for the multi-column fields).
type layout struct {
	row     int
	headers []string
	cols    [numFields][]int
}

// match maps a candidate header row. The first column found for a
// single-column field wins.
func (d dictionary) match(row int, cells []string) *layout {
	l := &layout{row: row, headers: trimAll(cells)}
	for i, c := range cells {
		f, ok := d.lookup(c)
		if !ok {
			continue
		}
		if len(l.cols[f]) > 0 && !multiColumn(f) {
			continue
		}
		l.cols[f] = append(l.cols[f], i)
	}
	return l
}

// score counts the distinct fields found.
func (l *layout) score() int {
	n := 0
	for _, c := range l.cols {
		if len(c) > 0 {
			n++
		}
	}
	return n
}

func (l *layout) has(f Field) bool { return len(l.cols[f]) > 0 }

// named returns the header cells recognised as a field's name, in column
// order, and how many other non-empty cells the row has.
func (l *layout) named() (known []string, others int) {
	used := map[int]bool{}
	for _, cs := range l.cols {
		for _, c := range cs {
			used[c] = true
		}
	}
	for i, c := range l.headers {
		switch {
		case c == "":
		case used[i]:
			known = append(known, c)
		default:
			others++
		}
	}
	return known, others
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// requirement is one thing a booking needs, satisfied by any of its fields.
type requirement struct {
	fields []Field
	hint   string
}

var requirements = []requirement{
	{[]Field{Name, FirstName}, "patient name (Patient Name, Name or First Name)"},
	{[]Field{Age, DOB}, "age (Age, or DOB / Date of Birth)"},
	{[]Field{Gender}, "gender (Sex or Gender)"},
	{[]Field{Tests, Packages}, "tests (Tests, Test Name, Investigations or Packages)"},
}

// missing lists the requirements l does not meet.
func (l *layout) missing() []string {
	var out []string
	for _, r := range requirements {
		ok := false
		for _, f := range r.fields {
			ok = ok || l.has(f)
		}
		if !ok {
			out = append(out, r.hint)
		}
	}
	return out
}

// headerScanRows is how far down a sheet the header row is looked for.
const headerScanRows = 30

// headerFinder looks at the first rows of a sheet for the header.
type headerFinder struct {
	dict dictionary
	best *layout
	seen int // rows looked at, blank ones too
	// What the non-blank rows looked at were like, for a message that
	// must not quote them (they may be patients).
	rows               int
	firstRow, lastRow  int
	minWidth, maxWidth int
}

// offer considers one row; it returns the layout once a row qualifies
// (all requirements met), else nil.
func (h *headerFinder) offer(row int, cells []string) *layout {
	h.seen++
	if isBlank(cells) {
		return nil
	}
	w := width(cells)
	if h.rows == 0 {
		h.firstRow, h.minWidth = row, w
	}
	h.rows++
	h.lastRow = row
	h.minWidth, h.maxWidth = min(h.minWidth, w), max(h.maxWidth, w)
	l := h.dict.match(row, cells)
	if len(l.missing()) == 0 {
		return l
	}
	if l.score() >= 2 && (h.best == nil || l.score() > h.best.score()) {
		h.best = l
	}
	return nil
}

// width counts a row's columns up to its last non-empty cell.
func width(cells []string) int {
	for i := len(cells) - 1; i >= 0; i-- {
		if strings.TrimSpace(cells[i]) != "" {
			return i + 1
		}
	}
	return 0
}

// failure explains why no header was found. Of a row that is a header
// lacking columns it quotes the cells it recognised as header names and
// only counts the others (they may be a patient's details: the message
// goes into the ledger, the exception report and the clinic's receipt);
// of rows that look like no header it says how many there were and how
// wide, never what they hold.
func (h *headerFinder) failure() error {
	if b := h.best; b != nil {
		known, others := b.named()
		rest := ""
		if others > 0 {
			rest = fmt.Sprintf(" (and %d other %s)", others, plural(others, "column", "columns"))
		}
		return fmt.Errorf("%w: the header on row %d has %s%s but lacks %s; name the columns in partners.<name>.columns if they are called something else",
			ErrNoHeader, b.row, termList(known), rest, strings.Join(b.missing(), ", "))
	}
	if h.rows == 0 {
		return fmt.Errorf("%w: the sheet has no data", ErrNoHeader)
	}
	rows := fmt.Sprintf("row %d", h.firstRow)
	if h.rows > 1 {
		rows = fmt.Sprintf("%d rows (rows %d to %d)", h.rows, h.firstRow, h.lastRow)
	}
	cols := fmt.Sprintf("%d columns", h.maxWidth)
	if h.minWidth != h.maxWidth {
		cols = fmt.Sprintf("%d to %d columns", h.minWidth, h.maxWidth)
	}
	return fmt.Errorf("%w: no row in the first %d looks like a header: %s with %s were looked at, and none names a column as a booking needs: %s; "+
		"give the sheet a header row with such names, or name the partner's own headers in partners.<name>.columns",
		ErrNoHeader, headerScanRows, rows, cols, h.knownNames())
}

// knownNames lists, per requirement, the header names looked for: the
// partner's own (aliases) first, then the built-in ones, most common
// first; as normHeader writes them, since case and punctuation do not
// matter.
func (h *headerFinder) knownNames() string {
	var out []string
	for _, r := range requirements {
		var names, aliases []string
		seen := map[string]bool{}
		for _, f := range r.fields {
			for _, n := range builtinHeaders[f] {
				if k := normHeader(n); h.dict[k] == f && !seen[k] {
					seen[k] = true
					names = append(names, k)
				}
			}
		}
		for k, f := range h.dict {
			if slices.Contains(r.fields, f) && !seen[k] {
				aliases = append(aliases, k)
			}
		}
		slices.Sort(aliases)
		names = append(aliases, names...)
		label, _, _ := strings.Cut(r.hint, " (")
		more := ""
		if len(names) > 8 {
			more = fmt.Sprintf(" and %d more", len(names)-8)
			names = names[:8]
		}
		for i, n := range names {
			names[i] = term(n)
		}
		out = append(out, fmt.Sprintf("%s (%s%s)", label, strings.Join(names, ", "), more))
	}
	return strings.Join(out, "; ")
}

func trimAll(cells []string) []string {
	out := make([]string, len(cells))
	for i, c := range cells {
		out[i] = strings.TrimSpace(c)
	}
	return out
}

// term quotes a word flabsync knows — a header name it looks for or
// recognised — with single quotes. A cell's value is quoted with double
// quotes (%q), and text that leaves the ledger hides those (redact.Show,
// the same convention): a refusal keeps the names it recognised readable
// and never shows a patient's cell.
func term(s string) string { return "'" + excerpt(s, maxQuoted) + "'" }

// termList is the words in s, each a term, in brackets.
func termList(s []string) string {
	q := make([]string, len(s))
	for i, c := range s {
		q[i] = term(c)
	}
	return "[" + strings.Join(q, ", ") + "]"
}

func quoteList(s []string) string {
	if len(s) > 12 {
		s = append(s[:12:12], "…")
	}
	q := make([]string, len(s))
	for i, c := range s {
		if c == "…" {
			q[i] = c
			continue
		}
		q[i] = fmt.Sprintf("%q", excerpt(c, maxQuoted))
	}
	return "[" + strings.Join(q, ", ") + "]"
}
