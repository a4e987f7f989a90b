package reconcile

import (
	"fmt"
	"strings"
	"time"
)

// Action is what a person does with an exception.
type Action string

// The actions a person can take on an exception.
const (
	ActionClose  Action = "close"  // settled: stays closed while its facts stay the same
	ActionSnooze Action = "snooze" // hidden until a day
	ActionReopen Action = "reopen" // open again
)

// Decision is a person's action on one exception, from the command line
// or from the Action and Note columns of a workbook.
type Decision struct {
	ID     string
	Action Action    // ActionClose, ActionSnooze or ActionReopen
	Until  time.Time // snooze: the day it comes back
	Note   string    // why (required to close or snooze)
	// Where names its source for errors: `sheet "Rejected row" row 14`.
	Where string
	// Fingerprint, when set, is the exception's Fingerprint as the
	// workbook the person decided in carried it: a decision on facts that
	// have changed since is refused. Decisions read from a workbook always
	// carry one (ReadDecisions refuses a row without it).
	Fingerprint string
}

// ParseAction reads an Action cell: "close", "snooze YYYY-MM-DD" or
// "reopen" (any case, spaces trimmed); "" is no action (ok false). The
// date is a day in loc.
func ParseAction(cell string, loc *time.Location) (d Decision, ok bool, err error) {
	f := strings.Fields(strings.ToLower(cell))
	switch {
	case len(f) == 0:
		return d, false, nil
	case len(f) == 1 && (Action(f[0]) == ActionClose || Action(f[0]) == ActionReopen):
		return Decision{Action: Action(f[0])}, true, nil
	case Action(f[0]) == ActionSnooze && len(f) == 2:
		until, err := time.ParseInLocation(time.DateOnly, f[1], loc)
		if err != nil {
			return d, false, fmt.Errorf("action %q: snooze needs a day, YYYY-MM-DD", cell)
		}
		return Decision{Action: ActionSnooze, Until: until}, true, nil
	}
	return d, false, fmt.Errorf("action %q: want close, snooze YYYY-MM-DD, reopen or nothing", cell)
}
