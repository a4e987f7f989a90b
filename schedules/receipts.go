package schedules

import (
	"github.com/flabsync/flabsync/pipeline/inbox"
	"github.com/flabsync/flabsync/pipeline/ledger"
)

// refusedFile is the ledger's record of a file the inbox moved to
// errors/ (dest) for reason. A file refused before it was claimed is
// already at dest, and its clinic is told the inbox's reason; a file the
// handler failed is recorded here only when the reading never got a
// ledger entry (the ledger keeps one record, with one receipt, a file),
// and that is a fault on the lab's side, of which the clinic is told no
// detail.
func refusedFile(f inbox.File, dest, reason string) ledger.RefusedFile {
	r := ledger.RefusedFile{Partner: f.Partner, Name: f.Name, Path: dest, Reason: reason, Told: reason}
	if f.Path != dest {
		r.Told = ""
	}
	return r
}
