package ledger

import (
	"context"
	"fmt"
)

// FileByID returns the ledger's entry for one file, with its accounting
// (an error wrapping sql.ErrNoRows when there is none).
func (l *Ledger) FileByID(ctx context.Context, id int64) (FileRecord, error) {
	var r fileRow
	if err := l.db.GetContext(ctx, &r, l.db.Rebind(selectFile+`WHERE id = ?`), id); err != nil {
		return FileRecord{}, fmt.Errorf("ledger: read file %d: %w", id, err)
	}
	return r.record(), nil
}

// ReturnedRow is a row of a file that the clinic must correct: it failed
// validation, or Flabs refused its booking.
type ReturnedRow struct {
	Row    int    `db:"row_num"`
	Ref    string `db:"ref"`    // the sheet's booking reference, if it has one
	Code   string `db:"code"`   // the rejection code; "flabs_refused" for a booking Flabs refused
	Reason string `db:"reason"` // the reason as a person reads it
}

// CodeFlabsRefused is ReturnedRow.Code for a row whose booking Flabs
// refused (the query writes it as a literal).
const CodeFlabsRefused = "flabs_refused"

// Returned returns, by row, up to limit rows of fileID to send back to
// the clinic: those rejected by validation and those whose booking Flabs
// refused (a booking of several rows lists each).
func (l *Ledger) Returned(ctx context.Context, fileID int64, limit int) ([]ReturnedRow, error) {
	var out []ReturnedRow
	q := l.db.Rebind(`SELECT row_num, ref, code, reason FROM (
	SELECT r.row_num, r.ref, r.code, r.message AS reason FROM sheet_rows r WHERE r.file_id = ? AND r.status = ?
	UNION ALL
	SELECT r.row_num, r.ref, 'flabs_refused' AS code, b.last_error AS reason FROM sheet_rows r JOIN bookings b ON b.integrator_id = r.integrator_id
		WHERE r.file_id = ? AND r.status = ? AND b.status = ?
) x ORDER BY row_num LIMIT ?`)
	if err := l.db.SelectContext(ctx, &out, q, fileID, RowRejected, fileID, RowAccepted, Rejected, limit); err != nil {
		return nil, fmt.Errorf("ledger: rows of file %d to return: %w", fileID, err)
	}
	return out, nil
}
