package pipeline_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"

	"github.com/flabsync/flabsync/internal/flabs"
	"github.com/flabsync/flabsync/pipeline"
)

func TestParseAge(t *testing.T) {
	y, m, d := flabs.AgeYear, flabs.AgeMonth, flabs.AgeDay
	ok := []struct {
		age, unit string
		want      pipeline.Age
	}{
		{"32", "", pipeline.Age{32, y}},
		{"32.0", "", pipeline.Age{32, y}},
		{" 32 Y ", "", pipeline.Age{32, y}},
		{"32 yrs", "", pipeline.Age{32, y}},
		{"32yrs", "", pipeline.Age{32, y}},
		{"32 Years", "", pipeline.Age{32, y}},
		{"6 M", "", pipeline.Age{6, m}},
		{"6 months", "", pipeline.Age{6, m}},
		{"6 mths.", "", pipeline.Age{6, m}},
		{"10 D", "", pipeline.Age{10, d}},
		{"10 days", "", pipeline.Age{10, d}},
		{"2 weeks", "", pipeline.Age{14, d}},
		{"1 Y 6 M", "", pipeline.Age{18, m}},
		{"1y6m", "", pipeline.Age{18, m}},
		{"1.5", "years", pipeline.Age{18, m}},
		{"6", "Months", pipeline.Age{6, m}},
		{"6", "M", pipeline.Age{6, m}},
		{"10", "(days)", pipeline.Age{10, d}},
		{"6 D", "Years", pipeline.Age{6, d}}, // the cell's own unit wins
		{"0", "days", pipeline.Age{0, d}},
		{"130", "", pipeline.Age{130, y}},
	}
	for _, tt := range ok {
		t.Run("OK/"+tt.age+"/"+tt.unit, func(t *testing.T) {
			got, err := pipeline.ParseAge(tt.age, tt.unit)
			if err != nil {
				t.Fatalf("ParseAge(%q, %q): %v", tt.age, tt.unit, err)
			}
			if got != tt.want {
				t.Errorf("ParseAge(%q, %q) = %+v, want %+v", tt.age, tt.unit, got, tt.want)
			}
		})
	}
	bad := []struct{ age, unit, wantMsg string }{
		{"", "", "empty"},
		{"abc", "", "not a number"},
		{"-3", "", "negative"},
		{"131", "", "over 130"},
		{"32", "decades", "unknown age unit"},
		{"32 furlongs", "", "unknown age unit"},
		{"400 months", "", "over 288"},
		{"1.2.3", "", "not a number"},
	}
	for _, tt := range bad {
		t.Run("Err/"+tt.age+"/"+tt.unit, func(t *testing.T) {
			got, err := pipeline.ParseAge(tt.age, tt.unit)
			if err == nil {
				t.Fatalf("ParseAge(%q, %q) = %+v, want an error", tt.age, tt.unit, got)
			}
			if !strings.Contains(err.Error(), tt.wantMsg) {
				t.Errorf("error %q does not say %q", err, tt.wantMsg)
			}
		})
	}
}

func TestAgeFromDOB(t *testing.T) {
	day := func(s string) time.Time { t, _ := time.Parse(time.DateOnly, s); return t }
	tests := []struct {
		dob, on string
		want    pipeline.Age
	}{
		{"1990-06-15", "2026-06-14", pipeline.Age{35, flabs.AgeYear}}, // the day before the birthday
		{"1990-06-15", "2026-06-15", pipeline.Age{36, flabs.AgeYear}},
		{"2025-11-25", "2026-11-25", pipeline.Age{1, flabs.AgeYear}},
		{"2025-11-26", "2026-11-25", pipeline.Age{11, flabs.AgeMonth}},
		{"2026-10-25", "2026-11-25", pipeline.Age{1, flabs.AgeMonth}},
		{"2026-10-26", "2026-11-25", pipeline.Age{30, flabs.AgeDay}},
		{"2026-11-25", "2026-11-25", pipeline.Age{0, flabs.AgeDay}},
		{"2024-02-29", "2025-02-28", pipeline.Age{11, flabs.AgeMonth}},
	}
	for _, tt := range tests {
		got, err := pipeline.AgeFromDOB(day(tt.dob), day(tt.on))
		if err != nil || got != tt.want {
			t.Errorf("AgeFromDOB(%s, %s) = %+v, %v; want %+v", tt.dob, tt.on, got, err, tt.want)
		}
	}
	if _, err := pipeline.AgeFromDOB(day("2026-12-01"), day("2026-11-25")); err == nil || !strings.Contains(err.Error(), "after the booking date") {
		t.Errorf("a birth after the booking date: err = %v", err)
	}
}

func TestParseGender(t *testing.T) {
	for in, want := range map[string]string{
		"M": "male", "m": "male", "Male": "male", "MALE ": "male", "M.": "male", "boy": "male",
		"F": "female", "Female": "female", "woman": "female", "महिला": "female",
		"O": "other", "Other": "other", "TG": "other", "Transgender": "other",
	} {
		got, err := pipeline.ParseGender(in)
		if err != nil || got != want {
			t.Errorf("ParseGender(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"", " ", "unknown", "N/A", "2", "Mx Female"} {
		if got, err := pipeline.ParseGender(in); err == nil {
			t.Errorf("ParseGender(%q) = %q, want an error", in, got)
		}
	}
}

func TestSplitName(t *testing.T) {
	tests := []struct{ full, first, last string }{
		{"Asha Rao", "Asha", "Rao"},
		{"  Asha   Rao  ", "Asha", "Rao"},
		{"Asha", "Asha", ""},
		{"Mr. Ravi Kumar Sharma", "Ravi", "Kumar Sharma"},
		{"Smt Lakshmi Devi", "Lakshmi", "Devi"},
		{"Dr", "Dr", ""}, // a lone title is kept: it may be a name
		{"Baby of Priya", "Baby of Priya", ""}, {"B/O Priya", "B/O Priya", ""}, {"Kumar, Suresh", "Suresh", "Kumar"}, {"Sharma, Anil Kumar", "Anil Kumar", "Sharma"},
		{"अमित कुमार", "अमित", "कुमार"},
		{"王小明", "王小明", ""},
		{"", "", ""},
	}
	for _, tt := range tests {
		first, last := pipeline.SplitName(tt.full)
		if first != tt.first || last != tt.last {
			t.Errorf("SplitName(%q) = %q, %q; want %q, %q", tt.full, first, last, tt.first, tt.last)
		}
	}
}

func TestSplitItems(t *testing.T) {
	tests := []struct {
		cell string
		want []string
	}{
		{"CBC, LFT; KFT", []string{"CBC", "LFT", "KFT"}},
		{"CBC+LFT | TSH", []string{"CBC", "LFT", "TSH"}},
		{"CBC\nLFT\r\nTSH", []string{"CBC", "LFT", "TSH"}},
		{"Vitamin D (25-OH, Total), CBC", []string{"Vitamin D (25-OH, Total)", "CBC"}},
		{"Thyroid Profile [T3; T4; TSH] + HbA1c", []string{"Thyroid Profile [T3; T4; TSH]", "HbA1c"}},
		{"CBC, cbc, , CBC ", []string{"CBC"}},
		{"Urine R&M", []string{"Urine R&M"}},
		{"", nil},
		{"Lipid (fasting", []string{"Lipid (fasting"}},
	}
	for _, tt := range tests {
		if diff := cmp.Diff(tt.want, pipeline.SplitItems(tt.cell)); diff != "" {
			t.Errorf("SplitItems(%q) (-want +got):\n%s", tt.cell, diff)
		}
	}
}

func TestParseDate(t *testing.T) {
	now := time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC)
	for in, want := range map[string]string{
		"2026-11-20": "2026-11-20", "20/11/2026": "2026-11-20", "20-11-2026": "2026-11-20",
		"20.11.2026": "2026-11-20", "3/4/2026": "2026-04-03", "11/20/2026": "2026-11-20",
		"20-Nov-2026": "2026-11-20", "20 November 2026": "2026-11-20", "Nov 20, 2026": "2026-11-20",
		"2026/11/20": "2026-11-20", "15/06/90": "1990-06-15", "15/06/05": "2005-06-15",
		"20/11/2026 10:30": "2026-11-20", "2026-11-20T10:30:00Z": "2026-11-20",
	} {
		got, err := pipeline.ParseDate(in, now)
		if err != nil || got.Format(time.DateOnly) != want {
			t.Errorf("ParseDate(%q) = %v, %v; want %s", in, got, err, want)
		}
	}
	for _, in := range []string{"", "yesterday", "31/02/2026", "13/13/2026", "1/2", "00/01/2026"} {
		if got, err := pipeline.ParseDate(in, now); err == nil {
			t.Errorf("ParseDate(%q) = %v, want an error", in, got)
		}
	}
}

func FuzzParseAge(f *testing.F) {
	for _, s := range []string{"32", "6 M", "1 Y 6 M", "10 days", "32.0", "-1", "1e9", "..", "1.5 years"} {
		f.Add(s, "")
	}
	f.Add("6", "months")
	f.Fuzz(func(t *testing.T, age, unit string) {
		got, err := pipeline.ParseAge(age, unit)
		if err != nil {
			return
		}
		switch got.Unit {
		case flabs.AgeYear, flabs.AgeMonth, flabs.AgeDay:
		default:
			t.Fatalf("ParseAge(%q, %q) unit %q", age, unit, got.Unit)
		}
		if got.Value < 0 || got.Value > pipeline.MaxAgeDays {
			t.Fatalf("ParseAge(%q, %q) = %d out of range", age, unit, got.Value)
		}
	})
}

func FuzzParseGender(f *testing.F) {
	for _, s := range []string{"M", "female", "O", "TG", "", "महिला", "x y"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		g, err := pipeline.ParseGender(s)
		if err == nil && g != flabs.GenderMale && g != flabs.GenderFemale && g != flabs.GenderOther {
			t.Fatalf("ParseGender(%q) = %q", s, g)
		}
	})
}

func FuzzSplitName(f *testing.F) {
	for _, s := range []string{"Asha Rao", "Mr. Ravi Kumar", "अमित कुमार", "", "  ", "Dr. Dr. X"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		first, last := pipeline.SplitName(s)
		if first == "" && last != "" {
			t.Fatalf("SplitName(%q): last %q without first", s, last)
		}
		if strings.TrimSpace(s) != "" && first == "" {
			t.Fatalf("SplitName(%q): lost the name", s)
		}
		if utf8.ValidString(s) && (!utf8.ValidString(first) || !utf8.ValidString(last)) {
			t.Fatalf("SplitName(%q) broke UTF-8", s)
		}
		// Nothing is invented: every word of the result was in the input.
		for _, w := range strings.Fields(first + " " + last) {
			if !strings.Contains(s, w) {
				t.Fatalf("SplitName(%q) = %q, %q: word %q is not in the input", s, first, last, w)
			}
		}
		if strings.ContainsAny(first, "\t\n") || strings.ContainsAny(last, "\t\n") {
			t.Fatalf("SplitName(%q) = %q, %q: tabs or line breaks kept", s, first, last)
		}
	})
}

func FuzzSplitItems(f *testing.F) {
	for _, s := range []string{"CBC, LFT", "Vitamin D (25-OH, total)+CBC", "((", "a|b;c\nd"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for _, it := range pipeline.SplitItems(s) {
			if it == "" || it != strings.TrimSpace(it) {
				t.Fatalf("SplitItems(%q) gave item %q", s, it)
			}
		}
	})
}

// TestCellProblemsRejectTheRowOnly: a quote that swallows the next line
// into the tests cell, and a NUL in a name, each reject their own row
// with a code naming the column and line; the other rows go on, and
// nothing of the swallowed row is sent as a test name.
func TestCellProblemsRejectTheRowOnly(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sunrise_2026.csv")
	body := "Booking ID,Patient Name,Age,Gender,Tests\n" +
		"R1,Asha,30,F,\"CBC\n" + // the quote opened on line 2 closes on line 3:
		"R2,Ravi,40,M,LFT\"\n" + // the next patient's row is inside the cell
		"R3,Mee\x00ra,50,F,CBC\n" +
		"R4,Kiran,60,M,Lipid Profile\n"
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	res, err := pipeline.ReadFile(context.Background(), path, pipeline.ReadOptions{Partner: "sunrise", Now: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	codes := map[int]string{}
	for _, e := range res.Rejected {
		codes[e.Row] = e.Code
		if strings.Contains(e.Msg, "Ravi") || strings.Contains(e.Msg, "Mee") {
			t.Errorf("row %d's message quotes the cell: %s", e.Row, e.Msg)
		}
	}
	if len(res.Rejected) != 2 || codes[res.Rejected[0].Row] != pipeline.CodeLineBreak || codes[res.Rejected[1].Row] != pipeline.CodeBadCharacters {
		t.Errorf("rejected %+v, want one line_break and one bad_characters", res.Rejected)
	}
	if !strings.Contains(res.Rejected[0].Msg, "line 2") {
		t.Errorf("line_break message does not name where the quote opened: %s", res.Rejected[0].Msg)
	}
	if len(res.Accepted) != 1 || res.Accepted[0].Booking.Ref != "R4" {
		t.Fatalf("accepted %d bookings, want R4 alone", len(res.Accepted))
	}
	for _, a := range res.Accepted {
		for _, u := range a.Request.UnmappedTests {
			if strings.Contains(u, "R2") || strings.ContainsRune(u, 0) {
				t.Errorf("a swallowed row went on as a test name: %q", u)
			}
		}
	}
}
