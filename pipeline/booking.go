package pipeline

import (
	"crypto/sha256"
	"encoding/hex"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/flabsync/flabsync/internal/sheet"
)

// Booking is one validated booking read from a sheet: what will be sent to
// Flabs once its test names are mapped.
type Booking struct {
	Partner      string
	File         string
	Sheet        string
	Row          int   // the first row of the booking, as a person sees it
	Rows         []int // every row it was read from (grouped layouts have several)
	Ref          string
	IntegratorID string

	FirstName   string
	LastName    string
	Gender      string // male, female or other
	Age         Age
	Barcode     string
	BookingDate time.Time // zero when the sheet has none
	Tests       []string  // as the partner wrote them, trimmed
	Packages    []string
}

// Input is one sheet row's cells by meaning, as the reader found them.
type Input struct {
	Row         int
	Name        string // full name, when the sheet has no first/last columns
	FirstName   string
	LastName    string
	Age         string
	AgeUnit     string
	DOB         string
	Gender      string
	Tests       string
	Packages    string
	Barcode     string
	Ref         string
	BookingDate string
	Problems    []sheet.CellProblem // what the reader found wrong in the row's cells
}

func (in *Input) patientBlank() bool {
	return strings.TrimSpace(in.Name+in.FirstName+in.LastName+in.Age+in.DOB+in.Gender) == ""
}

// IntegratorID is the booking's ID at Flabs, the same for the same booking
// however often its file is dropped, corrected or replayed: the partner and
// the sheet's own booking reference when it has one (case and spaces do
// not matter), else the partner and a hash of the normalised booking
// (patient, age, gender, tests and packages in any order, barcode, booking
// date).
func IntegratorID(b *Booking) string {
	if b.Ref != "" {
		return b.Partner + ":" + normRef(b.Ref)
	}
	tests := lowerSorted(b.Tests)
	pkgs := lowerSorted(b.Packages)
	date := ""
	if !b.BookingDate.IsZero() {
		date = b.BookingDate.Format(time.DateOnly)
	}
	h := sha256.New()
	for _, s := range []string{
		strings.ToLower(b.FirstName), strings.ToLower(b.LastName), b.Gender,
		strconv.Itoa(b.Age.Value), b.Age.Unit, strings.Join(tests, "\x1f"), strings.Join(pkgs, "\x1f"),
		strings.ToUpper(b.Barcode), date,
	} {
		h.Write([]byte(s))
		h.Write([]byte{0})
	}
	return b.Partner + ":h:" + hex.EncodeToString(h.Sum(nil)[:10])
}

func normRef(ref string) string {
	for i := 0; i < len(ref); i++ {
		if c := ref[i]; c <= ' ' || c >= 0x80 || (c >= 'a' && c <= 'z') {
			return strings.ToUpper(strings.Join(strings.Fields(ref), ""))
		}
	}
	return ref
}

func lowerSorted(items []string) []string {
	out := make([]string, len(items))
	for i, s := range items {
		out[i] = strings.ToLower(s)
	}
	slices.Sort(out)
	return out
}
