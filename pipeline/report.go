package pipeline

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"path/filepath"

	"github.com/flabsync/flabsync/internal/flabs"
	"github.com/flabsync/flabsync/pipeline/ledger"
)

// FileReport is the stable JSON shape of one file's dry run (`flabsync
// import --dry-run --json`). Keys are part of the interface: only add.
type FileReport struct {
	File     string           `json:"file"`
	Partner  string           `json:"partner"`
	RowsIn   int              `json:"rows_in"`
	Accepted []AcceptedReport `json:"accepted"`
	Rejected []RejectedReport `json:"rejected"`
	Skipped  []SkippedReport  `json:"skipped"`
	Error    string           `json:"error,omitempty"` // the file could not be read at all
	// Counts is a real import's accounting (absent in a dry run): rows in
	// = submitted + rejected + rejected_flabs + duplicate + failed + held
	// + skipped + unfinished.
	Counts *ledger.Counts `json:"counts,omitempty"`
	SameAs []int64        `json:"same_content_as_files,omitempty"` // earlier files with the same bytes
}

// AcceptedReport is one booking that would be sent.
type AcceptedReport struct {
	Row          int                  `json:"row"`
	Ref          string               `json:"ref"`
	IntegratorID string               `json:"integrator_id"`
	Request      flabs.BillingRequest `json:"request"`
	// A real import adds the booking's final state (submitted, rejected,
	// failed, held, or pending/retry when the run stopped first), and
	// whether it was already submitted before this file (duplicate).
	State        string `json:"state,omitempty"`
	Duplicate    bool   `json:"duplicate,omitempty"`
	PreBookingID string `json:"pre_booking_id,omitempty"`
	Attempts     int    `json:"attempts,omitempty"`
	HTTPStatus   int    `json:"http_status,omitempty"`
	Error        string `json:"error,omitempty"`
}

// RejectedReport is one row kept out, with its stable code.
type RejectedReport struct {
	Row     int    `json:"row"`
	Ref     string `json:"ref"`
	Code    string `json:"code"`
	Message string `json:"message"`
}

// SkippedReport is a row passed over on purpose.
type SkippedReport struct {
	Row int    `json:"row"`
	Why string `json:"why"`
}

// Report renders r in the stable JSON shape. Lists are never null.
func (r *FileResult) Report() FileReport {
	out := FileReport{File: r.File, Partner: r.Partner, RowsIn: r.RowsIn(),
		Accepted: []AcceptedReport{}, Rejected: []RejectedReport{}, Skipped: []SkippedReport{}}
	for _, a := range r.Accepted {
		out.Accepted = append(out.Accepted, acceptedReport(a))
	}
	for _, e := range r.Rejected {
		out.Rejected = append(out.Rejected, RejectedReport{Row: e.Row, Ref: e.Ref, Code: e.Code, Message: e.Error()})
	}
	for _, s := range r.Skipped {
		out.Skipped = append(out.Skipped, SkippedReport{Row: s.Row, Why: s.Why})
	}
	return out
}

func acceptedReport(a Accepted) AcceptedReport {
	return AcceptedReport{Row: a.Booking.Row, Ref: a.Booking.Ref, IntegratorID: a.Booking.IntegratorID, Request: a.Request}
}

// Report renders a real import in the dry run's shape, with each
// booking's final state and the file's counts.
func (in *Ingested) Report() FileReport {
	out := in.Result.Report()
	c := in.Counts
	out.Counts = &c
	out.SameAs = in.SameAs
	for i := range out.Accepted {
		a := &out.Accepted[i]
		st, ok := in.States[a.IntegratorID]
		if !ok {
			continue
		}
		a.State, a.PreBookingID, a.Attempts, a.HTTPStatus, a.Error = string(st.Status), st.PreBookingID, st.Attempts, st.HTTPStatus, st.Error
		a.Duplicate = in.Verdict[a.IntegratorID] == "duplicate"
	}
	return out
}

// WriteReport reads, validates and maps path as Scan does and writes its
// dry-run report to w in the stable JSON shape of FileReport, streaming
// the accepted bookings as they are decided: memory stays flat however
// many there are (rejected and skipped rows, usually few, are held until
// the end). The object's keys come in another order than FileReport's
// fields; JSON readers do not care. A file that cannot be read is an
// object with "error". It returns the scan's result (its Rejected list,
// no Accepted list) and the number of bookings accepted.
func WriteReport(ctx context.Context, w io.Writer, path string, opts ReadOptions) (*FileResult, int, error) {
	bw := bufio.NewWriter(w)
	defer bw.Flush()
	head, _ := json.Marshal(struct {
		File    string `json:"file"`
		Partner string `json:"partner"`
	}{filepath.Base(path), partnerOr(opts.Partner, path)})
	bw.Write(head[:len(head)-1])
	bw.WriteString(`,"accepted":[`)
	var rejected []RowError
	accepted := 0
	res, scanErr := Scan(ctx, path, opts, Sink{
		Accepted: func(a Accepted) error {
			b, err := marshal(acceptedReport(a))
			if err != nil {
				return err
			}
			if accepted > 0 {
				bw.WriteByte(',')
			}
			accepted++
			bw.WriteString("\n  ")
			_, err = bw.Write(b)
			return err
		},
		Rejected: func(e RowError) error {
			rejected = append(rejected, e)
			return nil
		},
	})
	if res == nil {
		res = &FileResult{File: filepath.Base(path), Partner: partnerOr(opts.Partner, path)}
	}
	res.Rejected = rejected
	rep := res.Report() // res holds no accepted bookings: they were streamed
	tail := struct {
		Rejected []RejectedReport `json:"rejected"`
		Skipped  []SkippedReport  `json:"skipped"`
		RowsIn   int              `json:"rows_in"`
		Error    string           `json:"error,omitempty"`
	}{Rejected: rep.Rejected, Skipped: rep.Skipped, RowsIn: rep.RowsIn}
	if scanErr != nil {
		tail.Error = scanErr.Error()
	}
	b, err := marshal(tail)
	if err != nil {
		return res, accepted, err
	}
	bw.WriteString("],")
	bw.Write(b[1:])
	bw.WriteByte('\n')
	if err := bw.Flush(); err != nil {
		return res, accepted, err
	}
	return res, accepted, scanErr
}

// marshal is json.Marshal without HTML escaping (names like "A&B Labs"
// stay readable).
func marshal(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimRight(buf.Bytes(), "\n"), nil
}

func partnerOr(p, path string) string {
	if p == "" {
		return PartnerOf(path)
	}
	return p
}
