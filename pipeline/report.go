package pipeline

import "github.com/flabsync/flabsync/internal/flabs"

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
}

// AcceptedReport is one booking that would be sent.
type AcceptedReport struct {
	Row          int                  `json:"row"`
	Ref          string               `json:"ref"`
	IntegratorID string               `json:"integrator_id"`
	Request      flabs.BillingRequest `json:"request"`
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
		out.Accepted = append(out.Accepted, AcceptedReport{Row: a.Booking.Row, Ref: a.Booking.Ref, IntegratorID: a.Booking.IntegratorID, Request: a.Request})
	}
	for _, e := range r.Rejected {
		out.Rejected = append(out.Rejected, RejectedReport{Row: e.Row, Ref: e.Ref, Code: e.Code, Message: e.Error()})
	}
	for _, s := range r.Skipped {
		out.Skipped = append(out.Skipped, SkippedReport{Row: s.Row, Why: s.Why})
	}
	return out
}
