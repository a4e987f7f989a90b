package reconcile

import "time"

// TrendPoint is one nightly run's open exceptions (new and open) per
// category: the digest shows the last few, so ops see whether the report
// converges.
type TrendPoint struct {
	At   time.Time
	Open map[Category]int // category → open exceptions
}
