// Package ledger is the submission ledger: the files flabsync took in,
// every sheet row of them, and one booking per integrator ID with the
// exact request sent and its state. It is the only code that writes the
// files, sheet_rows and bookings tables, and it reads them for `flabsync
// status`, the nightly file checks and the partners' reject files.
//
// Every row is written before any request is sent; each booking is marked
// in flight before its request and settled after the answer, so a crash
// loses nothing and the next run resends only what may not have arrived.
// States are typed: BookingState, RowStatus and FileStatus.
package ledger
