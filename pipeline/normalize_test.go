package pipeline_test

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/flabsync/flabsync/internal/flabs"
	"github.com/flabsync/flabsync/pipeline"
)

var bookingDay = time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC)

// run feeds rows through a fresh Normalizer and returns what came out.
func run(partner string, rows ...pipeline.Input) (books []*pipeline.Booking, errs []*pipeline.RowError) {
	n := pipeline.NewNormalizer(partner, "sunrise.csv", "", bookingDay)
	var res []pipeline.Result
	for _, in := range rows {
		res = append(res, n.Add(in)...)
	}
	res = append(res, n.Flush()...)
	for _, r := range res {
		if r.Booking != nil {
			books = append(books, r.Booking)
		} else {
			errs = append(errs, r.Err)
		}
	}
	return books, errs
}

func TestNormalizerOK(t *testing.T) {
	books, errs := run("sunrise",
		pipeline.Input{Row: 2, Name: "Mrs. Asha  Rao", Age: "34 Y", Gender: "F", Tests: "CBC, Vitamin D (25-OH)", Barcode: " BC01 ", Ref: "V-001"},
		pipeline.Input{Row: 3, FirstName: "Ravi", LastName: "Kumar", DOB: "15/06/1990", Gender: "Male", Packages: "Diabetes Care", BookingDate: "20/11/2026"},
	)
	if len(errs) != 0 {
		t.Fatalf("unexpected rejections: %v", errs)
	}
	if len(books) != 2 {
		t.Fatalf("got %d bookings, want 2", len(books))
	}
	a, r := books[0], books[1]
	if a.FirstName != "Asha" || a.LastName != "Rao" || a.Gender != "female" || a.Age != (pipeline.Age{34, "year"}) || a.Barcode != "BC01" {
		t.Errorf("booking 1 = %+v", a)
	}
	if diff := cmp.Diff([]string{"CBC", "Vitamin D (25-OH)"}, a.Tests); diff != "" {
		t.Errorf("tests (-want +got):\n%s", diff)
	}
	if a.IntegratorID != "sunrise:V-001" {
		t.Errorf("ID from the sheet's reference = %q, want sunrise:V-001", a.IntegratorID)
	}
	if r.Age != (pipeline.Age{36, "year"}) { // born 1990-06-15, booked 2026-11-20
		t.Errorf("age from DOB against the booking date = %+v, want 36 years", r.Age)
	}
	if !strings.HasPrefix(r.IntegratorID, "sunrise:h:") {
		t.Errorf("ID without a reference = %q, want a hash ID", r.IntegratorID)
	}
}

func TestNormalizerRejects(t *testing.T) {
	ok := pipeline.Input{Name: "Asha Rao", Age: "34", Gender: "F", Tests: "CBC"}
	with := func(f func(*pipeline.Input)) pipeline.Input { in := ok; in.Row = 7; f(&in); return in }
	tests := []struct {
		name     string
		in       pipeline.Input
		code     string
		wantText string
	}{
		{"MissingName", with(func(in *pipeline.Input) { in.Name = " " }), pipeline.CodeMissingName, "name is empty"},
		{"OnlyLastName", with(func(in *pipeline.Input) { in.Name = ""; in.LastName = "Rao" }), pipeline.CodeMissingName, "only a last name"},
		{"MissingGender", with(func(in *pipeline.Input) { in.Gender = "" }), pipeline.CodeMissingGender, "gender is empty"},
		{"BadGender", with(func(in *pipeline.Input) { in.Gender = "unknown" }), pipeline.CodeBadGender, `"unknown"`},
		{"BadAge", with(func(in *pipeline.Input) { in.Age = "thirty" }), pipeline.CodeBadAge, "not a number"},
		{"MissingAge", with(func(in *pipeline.Input) { in.Age = "" }), pipeline.CodeMissingAge, "neither age nor date of birth"},
		{"BadDOB", with(func(in *pipeline.Input) { in.Age = ""; in.DOB = "31/02/1990" }), pipeline.CodeBadDOB, "not a real date"},
		{"FutureDOB", with(func(in *pipeline.Input) { in.Age = ""; in.DOB = "01/12/2026" }), pipeline.CodeBadDOB, "after the booking date"},
		{"NoTests", with(func(in *pipeline.Input) { in.Tests = " , ;" }), pipeline.CodeNoTests, "no tests"},
		{"BadBookingDate", with(func(in *pipeline.Input) { in.BookingDate = "someday" }), pipeline.CodeBadBookingDate, "booking date"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			books, errs := run("sunrise", tt.in)
			if len(books) != 0 || len(errs) != 1 {
				t.Fatalf("got %d bookings, %d rejections; want one rejection", len(books), len(errs))
			}
			e := errs[0]
			if e.Code != tt.code || e.Row != 7 || !strings.Contains(e.Msg, tt.wantText) {
				t.Errorf("rejection = %+v, want code %s on row 7 saying %q", e, tt.code, tt.wantText)
			}
			if !strings.Contains(e.Error(), "sunrise.csv row 7: "+tt.code) {
				t.Errorf("Error() = %q does not name file, row and code", e.Error())
			}
		})
	}
	t.Run("AllProblemsListed", func(t *testing.T) {
		_, errs := run("p", pipeline.Input{Row: 4, Name: "", Gender: "", Age: "x", Tests: ""})
		if len(errs) != 1 || errs[0].Code != pipeline.CodeMissingName {
			t.Fatalf("errs = %v", errs)
		}
		for _, want := range []string{"name is empty", "gender is empty", "not a number", "no tests"} {
			if !strings.Contains(errs[0].Msg, want) {
				t.Errorf("message %q misses %q", errs[0].Msg, want)
			}
		}
	})
}

// A reference that would make the integrator ID (partner:reference)
// longer than flabs.MaxIntegratorIDLen is a rejected row: such a booking's
// webhooks would be refused. The message names the column and the limit
// and quotes neither the reference nor the patient.
func TestNormalizerReferenceTooLong(t *testing.T) {
	in := pipeline.Input{Row: 7, Name: "Asha Rao", Age: "34", Gender: "F", Tests: "CBC", Ref: "V" + strings.Repeat("7", 299)}
	books, errs := run("sunrise", in)
	if len(books) != 0 || len(errs) != 1 {
		t.Fatalf("got %d bookings, %d rejections; want one rejection", len(books), len(errs))
	}
	e := errs[0]
	if e.Code != pipeline.CodeReferenceTooLong || e.Field != "ref" || e.Row != 7 {
		t.Errorf("rejection = %s on %q row %d, want %s on ref row 7", e.Code, e.Field, e.Row, pipeline.CodeReferenceTooLong)
	}
	for _, want := range []string{"ref column", "300 bytes", "256", "at most 248"} {
		if !strings.Contains(e.Msg, want) {
			t.Errorf("message %q does not say %q", e.Msg, want)
		}
	}
	if strings.Contains(e.Msg, "777") || strings.Contains(e.Msg, "Asha") || strings.Contains(e.Msg, "Rao") {
		t.Errorf("message %q echoes the reference or the patient", e.Msg)
	}

	// The boundary: partner "sunrise" + ":" leaves 248 bytes of reference.
	room := flabs.MaxIntegratorIDLen - len("sunrise:")
	in.Ref = strings.Repeat("R", room)
	books, errs = run("sunrise", in)
	if len(errs) != 0 || len(books) != 1 || len(books[0].IntegratorID) != flabs.MaxIntegratorIDLen {
		t.Errorf("reference of %d bytes: %d bookings, rejections %v; want it booked with a %d-byte ID", room, len(books), errs, flabs.MaxIntegratorIDLen)
	}
	in.Ref = strings.Repeat("R", room+1)
	if _, errs = run("sunrise", in); len(errs) != 1 || errs[0].Code != pipeline.CodeReferenceTooLong {
		t.Errorf("reference of %d bytes: %v; want %s", room+1, errs, pipeline.CodeReferenceTooLong)
	}

	// Every fault of the row is listed, the long reference among them.
	in.Age = "thirty"
	if _, errs = run("sunrise", in); len(errs) != 1 || errs[0].Code != pipeline.CodeBadAge || !strings.Contains(errs[0].Msg, "ref column") {
		t.Errorf("bad age and long reference: %v; want bad_age also naming the reference", errs)
	}
}

func TestNormalizerGroupedLayout(t *testing.T) {
	books, errs := run("lakeview",
		pipeline.Input{Row: 5, Ref: "B1", Name: "Asha Rao", Age: "34", Gender: "F", Tests: "CBC"},
		pipeline.Input{Row: 6, Ref: "b1", Tests: "LFT"},                       // blank patient cells: same booking
		pipeline.Input{Row: 7, Ref: "B1", Name: "Asha Rao", Tests: "cbc"},     // repeat test dropped
		pipeline.Input{Row: 8, Ref: "B1", Name: "Someone Else", Tests: "TSH"}, // another patient under B1
		pipeline.Input{Row: 9, Ref: "B2", Name: "Ravi", Age: "6 M", Gender: "M", Tests: "Hb"},
		pipeline.Input{Row: 10, Ref: "B1", Name: "Asha Rao", Age: "34", Gender: "F", Tests: "KFT"}, // B1 again, later
	)
	if len(books) != 2 {
		t.Fatalf("got %d bookings, want 2 (B1, B2)", len(books))
	}
	if diff := cmp.Diff([]string{"CBC", "LFT"}, books[0].Tests); diff != "" {
		t.Errorf("B1 tests (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]int{5, 6, 7}, books[0].Rows); diff != "" {
		t.Errorf("B1 rows (-want +got):\n%s", diff)
	}
	codes := map[int]string{}
	for _, e := range errs {
		codes[e.Row] = e.Code
	}
	want := map[int]string{8: pipeline.CodeConflictingGroup, 10: pipeline.CodeDuplicateRef}
	if diff := cmp.Diff(want, codes); diff != "" {
		t.Errorf("rejections by row (-want +got):\n%s", diff)
	}
}

func TestNormalizerDuplicates(t *testing.T) {
	a := pipeline.Input{Row: 2, Name: "Asha Rao", Age: "34", Gender: "F", Tests: "CBC, LFT", Barcode: "BC1"}
	b := a
	b.Row, b.Tests = 3, "LFT,CBC" // same booking, tests in another order
	c := pipeline.Input{Row: 4, Name: "Ravi", Age: "40", Gender: "M", Tests: "TSH", Barcode: "bc1"}
	_, errs := run("p", a, b, c)
	got := map[int]string{}
	for _, e := range errs {
		got[e.Row] = e.Code
	}
	want := map[int]string{3: pipeline.CodeDuplicateBarcode, 4: pipeline.CodeDuplicateBarcode}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	a.Barcode, b.Barcode = "", ""
	_, errs = run("p", a, b)
	if len(errs) != 1 || errs[0].Code != pipeline.CodeDuplicateRow || errs[0].Row != 3 || !strings.Contains(errs[0].Msg, "row 2") {
		t.Errorf("identical bookings: %v", errs)
	}
}

func TestIntegratorIDStable(t *testing.T) {
	base := pipeline.Booking{Partner: "p", FirstName: "Asha", LastName: "Rao", Gender: "female",
		Age: pipeline.Age{34, "year"}, Tests: []string{"CBC", "LFT"}, Barcode: "bc1"}
	same := base
	same.FirstName, same.Tests, same.Barcode, same.Row = "ASHA", []string{"lft", "cbc"}, "BC1", 99
	if pipeline.IntegratorID(&base) != pipeline.IntegratorID(&same) {
		t.Error("case, test order and row number changed the ID")
	}
	for name, change := range map[string]func(*pipeline.Booking){
		"age":     func(b *pipeline.Booking) { b.Age.Value = 35 },
		"tests":   func(b *pipeline.Booking) { b.Tests = []string{"CBC"} },
		"partner": func(b *pipeline.Booking) { b.Partner = "q" },
		"barcode": func(b *pipeline.Booking) { b.Barcode = "BC2" },
		"date":    func(b *pipeline.Booking) { b.BookingDate = bookingDay },
	} {
		other := base
		change(&other)
		if pipeline.IntegratorID(&base) == pipeline.IntegratorID(&other) {
			t.Errorf("changing %s kept the ID", name)
		}
	}
	withRef := base
	withRef.Ref = " v 001 "
	corrected := withRef
	corrected.Age.Value = 35 // a corrected file keeps the booking's reference
	if got := pipeline.IntegratorID(&withRef); got != "p:V001" || got != pipeline.IntegratorID(&corrected) {
		t.Errorf("reference ID = %q, corrected = %q; want both p:V001", got, pipeline.IntegratorID(&corrected))
	}
}
