package pipeline

import (
	"context"
	"path/filepath"
)

// ScanSample reads path as opts says, sending nothing, and keeps its
// rejected and skipped rows and the first n accepted bookings: the human
// dry run. It returns the result and how many bookings were accepted in
// all; on a read error, the result is nil.
func ScanSample(ctx context.Context, path string, opts ReadOptions, n int) (*FileResult, int, error) {
	res := &FileResult{}
	accepted := 0
	scan, err := Scan(ctx, path, opts, Sink{
		Accepted: func(a Accepted) error {
			if accepted++; len(res.Accepted) < n {
				res.Accepted = append(res.Accepted, a)
			}
			return nil
		},
		Rejected: func(e RowError) error { res.Rejected = append(res.Rejected, e); return nil },
	})
	if err != nil {
		return nil, 0, err
	}
	res.File, res.Partner, res.Summary, res.Skipped = scan.File, scan.Partner, scan.Summary, scan.Skipped
	return res, accepted, nil
}

// Report is the file's JSON report (Ingested.Report), with its error; a
// file not read at all reports its name and partner (partner, else from
// its name) and the error.
func (o FileOutcome) Report(partner string) FileReport {
	var rep FileReport
	if o.In != nil {
		rep = o.In.Report()
	} else {
		rep = (&FileResult{File: filepath.Base(o.Path), Partner: partner}).Report()
	}
	if o.Err != nil {
		rep.Error = o.Err.Error()
	}
	return rep
}
