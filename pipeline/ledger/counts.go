package ledger

import "fmt"

// Counts is a file's accounting, in sheet rows.
type Counts struct {
	RowsIn        int `json:"rows_in"`
	Submitted     int `json:"submitted"`
	Rejected      int `json:"rejected"`       // failed validation
	RejectedFlabs int `json:"rejected_flabs"` // Flabs refused
	Duplicate     int `json:"duplicate"`      // submitted before, by an earlier file or run
	Failed        int `json:"failed"`
	Held          int `json:"held"`
	Skipped       int `json:"skipped"`
	Unconfirmed   int `json:"unconfirmed"` // may be booked: a resend after an unknown outcome was refused
	Unfinished    int `json:"unfinished"`  // pending or retrying when the run stopped
}

// Add returns the sum of c and d, field by field.
func (c Counts) Add(d Counts) Counts {
	return Counts{RowsIn: c.RowsIn + d.RowsIn, Submitted: c.Submitted + d.Submitted, Rejected: c.Rejected + d.Rejected,
		RejectedFlabs: c.RejectedFlabs + d.RejectedFlabs, Duplicate: c.Duplicate + d.Duplicate, Failed: c.Failed + d.Failed,
		Held: c.Held + d.Held, Skipped: c.Skipped + d.Skipped, Unconfirmed: c.Unconfirmed + d.Unconfirmed, Unfinished: c.Unfinished + d.Unfinished}
}

// Outcomes is the number of rows with an outcome (all but RowsIn).
func (c Counts) Outcomes() int {
	return c.Submitted + c.Rejected + c.RejectedFlabs + c.Duplicate + c.Failed + c.Held + c.Skipped + c.Unconfirmed + c.Unfinished
}

// Balanced reports whether every row is accounted for exactly once.
func (c Counts) Balanced() bool { return c.RowsIn == c.Outcomes() }

// Line is the counts in the one line `flabsync import` prints for a
// file and for all of them.
func (c Counts) Line() string {
	s := fmt.Sprintf("%d submitted, %d rejected, %d refused by Flabs, %d duplicate, %d failed, %d held, %d skipped",
		c.Submitted, c.Rejected, c.RejectedFlabs, c.Duplicate, c.Failed, c.Held, c.Skipped)
	if c.Unconfirmed > 0 {
		s += fmt.Sprintf(", %d unconfirmed (may be booked: the nightly run settles them)", c.Unconfirmed)
	}
	if c.Unfinished > 0 {
		s += fmt.Sprintf(", %d unfinished", c.Unfinished)
	}
	return s
}
