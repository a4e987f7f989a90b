package pipeline

import (
	"fmt"
	"path/filepath"
	"strings"
	"text/tabwriter"
)

// DryRunText is the human account of one file `flabsync import
// --dry-run` prints: r holds its rejected rows and a sample of its
// accepted bookings (ScanSample), accepted counts them all.
// It shows row numbers, references and integrator IDs, not patient names.
func (r *FileResult) DryRunText(accepted int) string {
	var sb strings.Builder
	w := &sb
	s := r.Summary
	how := s.Format
	if s.Format == "csv" {
		how += fmt.Sprintf(" %s %q", s.Encoding, s.Delimiter)
	} else {
		how += fmt.Sprintf(" sheet %q", s.Sheet)
	}
	fmt.Fprintf(w, "%s  (partner %s, %s, header on row %d)\n", r.File, r.Partner, how, s.HeaderRow)
	fmt.Fprintf(w, "  %d rows: %d bookings accepted, %d rows rejected, %d skipped; %d blank rows ignored\n",
		r.RowsIn(), accepted, len(r.Rejected), len(r.Skipped), s.Blank)
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	if len(r.Rejected) > 0 {
		fmt.Fprintln(w, "  rejected:")
		for _, e := range r.Rejected {
			fmt.Fprintf(tw, "    row %d\t%s\t%s\t%s\n", e.Row, orDash(e.Ref), e.Code, e.Msg)
		}
		tw.Flush()
	}
	if len(r.Skipped) > 0 {
		fmt.Fprintln(w, "  skipped:")
		for _, k := range r.Skipped {
			fmt.Fprintf(tw, "    row %d\t%s\n", k.Row, k.Why)
		}
		tw.Flush()
	}
	if n := len(r.Accepted); n > 0 {
		fmt.Fprintf(w, "  bookings (%d of %d):\n", n, accepted)
		for _, a := range r.Accepted {
			b := a.Booking
			var mapped, unmapped []string
			for _, m := range a.Matches {
				if m.Mapped() {
					mapped = append(mapped, fmt.Sprintf("%s→%s", m.Name, m.How))
				} else {
					unmapped = append(unmapped, m.Name)
				}
			}
			line := fmt.Sprintf("    row %d\t%s\t%d %s %s\t%d mapped", b.Row, b.IntegratorID, b.Age.Value, b.Age.Unit, b.Gender, len(mapped))
			if len(unmapped) > 0 {
				line += fmt.Sprintf(", unmapped: %s", strings.Join(unmapped, " | "))
			}
			fmt.Fprintln(tw, line)
		}
		tw.Flush()
	}
	fmt.Fprintln(w)
	return sb.String()
}

// SentText is the human account of one file `flabsync import` prints
// (in nil: it could not be read, err says why): its counts, whether they
// balance, and every row that did not go through, with the reason. Row
// numbers, references and integrator IDs; never patient names.
func SentText(path string, in *Ingested, err error) string {
	var sb strings.Builder
	w := &sb
	name := filepath.Base(path)
	if in == nil {
		fmt.Fprintf(w, "%s  NOT READ: %v\n\n", name, err)
		return sb.String()
	}
	c := in.Counts
	balance := "balanced"
	if !c.Balanced() {
		balance = "DOES NOT BALANCE"
	}
	fmt.Fprintf(w, "%s  (partner %s, file #%d)\n  %d rows: %s (%s)\n", name, in.Result.Partner, in.FileID, c.RowsIn, c.Line(), balance)
	if len(in.SameAs) > 0 {
		fmt.Fprintf(w, "  same content as file #%d: rows submitted then were not sent again\n", in.SameAs[0])
	}
	if err != nil {
		fmt.Fprintf(w, "  ERROR: %v\n", err)
	}
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0) // every row that did not go through, and why
	for _, e := range in.Result.Rejected {
		fmt.Fprintf(tw, "  row %d\t%s\trejected\t%s\t%s\n", e.Row, orDash(e.Ref), e.Code, e.Msg)
	}
	for _, b := range in.NotThrough {
		fmt.Fprintf(tw, "  row %d\t%s\t%s\t\t%s\n", b.Row, b.IntegratorID, b.State, b.Error)
	}
	for _, k := range in.Result.Skipped {
		fmt.Fprintf(tw, "  row %d\t-\tskipped\t\t%s\n", k.Row, k.Why)
	}
	tw.Flush()
	fmt.Fprintln(w)
	return sb.String()
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
