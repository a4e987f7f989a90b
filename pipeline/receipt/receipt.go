// Package receipt tells a partner clinic what became of each file it
// sent: a short plain-text email to partners.<name>.email with the file's
// rows in, accepted, rejected and duplicate, and the rows to correct
// attached as CSV; or, for a file that could not be read, why and what to
// do. A receipt is queued in the ledger's outbox in the same transaction
// as the file's final state (Rule says for which partners); a Courier,
// owned by the service, builds it from the ledger and sends it by a
// Sender (the Mailer, or an Outbox folder), with retries, on whichever
// process is alive. Nothing of it is on the reading path.
// They carry row numbers, booking references and reasons, never patient
// names, and only ever the receiving clinic's own file.
package receipt

import (
	"errors"
	"fmt"
	"strings"

	"github.com/flabsync/flabsync/internal/sheet"
	"github.com/flabsync/flabsync/pipeline/ledger"
)

// Receipt is one clinic's receipt for one file, ready to send.
type Receipt struct {
	Partner string
	File    string
	Subject string
	Text    string
	Rows    []ledger.ReturnedRow // the rows to correct, attached as CSV; none: no attachment
	AllRows int                  // how many rows there are to correct (Rows may hold fewer)
}

// MaxRows is the most rows a receipt's CSV lists; the text says when
// there were more.
const MaxRows = 10_000

const (
	greeting = "Hello,\n\n"
	footer   = "\n-- \nThis is an automatic message from the lab's booking import. " +
		"Reply to it if something looks wrong.\n"
)

// Processed is the receipt for a file read to its end: its counts, and
// the rows to correct (rows, of all in total) when some were rejected.
func Processed(f ledger.FileRecord, name string, rows []ledger.ReturnedRow, all int) Receipt {
	c := f.Counts
	r := Receipt{Partner: f.Partner, File: name, Rows: rows, AllRows: all}
	if f.Status == ledger.FileDuplicate {
		r.Subject = fmt.Sprintf("Receipt for %s: already received", name)
		r.Text = greeting + fmt.Sprintf("We received your file %s. It is the same as a file you sent before, "+
			"so nothing in it was booked again. You do not need to do anything.\n", name) + footer
		return r
	}
	r.Subject = fmt.Sprintf("Receipt for %s: %d of %d rows accepted", name, c.Submitted, c.RowsIn)
	if bad := c.Rejected + c.RejectedFlabs; bad > 0 {
		r.Subject += fmt.Sprintf(", %d to correct", bad)
	}
	var b strings.Builder
	b.WriteString(greeting)
	fmt.Fprintf(&b, "We have processed your file %s.\n\n", name)
	line := func(label string, n int, note string) {
		fmt.Fprintf(&b, "  %-28s %6d", label, n)
		if note != "" {
			b.WriteString("   " + note)
		}
		b.WriteString("\n")
	}
	line("Rows in the file:", c.RowsIn, "")
	line("Accepted (booked):", c.Submitted, "")
	line("Rejected:", c.Rejected, "")
	if c.RejectedFlabs > 0 {
		line("Refused by the lab system:", c.RejectedFlabs, "")
	}
	line("Already received before:", c.Duplicate, "not booked twice")
	if c.Skipped > 0 {
		line("Skipped:", c.Skipped, "totals or repeated headers")
	}
	if n := c.Held + c.Failed + c.Unconfirmed + c.Unfinished; n > 0 {
		line("Still with the lab:", n, "the lab is seeing to these; nothing for you to do")
	}
	b.WriteString("\n")
	switch {
	case c.RowsIn-c.Skipped == 0:
		b.WriteString("The file has a header row but no bookings below it. If you meant to send bookings, " +
			"please check the file and send it again.\n")
	case c.Rejected+c.RejectedFlabs > 0:
		if c.Submitted == 0 && c.Duplicate == 0 {
			b.WriteString("No row of this file could be accepted.\n")
		}
		fmt.Fprintf(&b, "The %d %s to correct %s listed in the attached file, with the row number, "+
			"your booking reference and the reason.", all, plural(all, "row", "rows"), plural(all, "is", "are"))
		if len(rows) < all {
			fmt.Fprintf(&b, " (The attachment lists the first %d.)", len(rows))
		}
		b.WriteString("\nPlease correct them and send them again in a new file; rows already accepted " +
			"will not be booked twice.\n")
	default:
		b.WriteString("Every row was taken. You do not need to do anything.\n")
	}
	b.WriteString(footer)
	r.Text = b.String()
	return r
}

// Refused is the receipt for a file that could not be read: why, and
// what to do. An empty reason means a fault on the lab's side, which the
// clinic is not asked to fix.
func Refused(partner, name, reason string) Receipt {
	r := Receipt{Partner: partner, File: name}
	if reason == "" {
		r.Subject = fmt.Sprintf("Receipt for %s: received, not processed yet", name)
		r.Text = greeting + fmt.Sprintf("We received your file %s but could not finish processing it "+
			"because of a problem on our side. The lab team has been told. You do not need to do anything "+
			"unless they contact you.\n", name) + footer
		return r
	}
	r.Subject = fmt.Sprintf("Receipt for %s: could not be read", name)
	r.Text = greeting + fmt.Sprintf("We could not read your file %s, so no booking in it was made.\n\n"+
		"Why: %s\n\nWhat to do: please correct the file and send it again. Rows already booked from an "+
		"earlier file will not be booked twice.\n", name, reason) + footer
	return r
}

// ClinicReason is the reason a clinic is given for err, a file that could
// not be read: the reader's own words when the clinic can act on them
// (the file's format, its header), "" for a fault on the lab's side.
func ClinicReason(name string, err error) string {
	if err == nil || !(errors.Is(err, sheet.ErrRefused) || errors.Is(err, sheet.ErrNoHeader)) {
		return ""
	}
	s := err.Error()
	// The wrapping names the file and the step ("ingest x.csv: read
	// x.csv: …"); the clinic knows which file it is.
	for _, p := range []string{"ingest " + name + ": ", "read " + name + ": "} {
		s = strings.TrimPrefix(s, p)
	}
	// The reader's advice after "; " is written for the lab's staff when
	// it speaks of the clinic ("ask the clinic for …"): the clinic gets
	// what was wrong, and the receipt's own what-to-do.
	if what, advice, ok := strings.Cut(s, "; "); ok && strings.Contains(advice, "clinic") {
		s = what
	}
	return s
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
