package ledger_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/flabsync/flabsync/internal/flabs"
	"github.com/flabsync/flabsync/internal/store"
	"github.com/flabsync/flabsync/internal/store/storetest"
	"github.com/flabsync/flabsync/pipeline/ledger"
	"github.com/flabsync/flabsync/pipeline/submit"
)

// TestAdmitDecides: what a second sighting of a booking sends, by the
// state the first left it in.
func TestAdmitDecides(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		l := ledger.New(db)
		file := func() int64 {
			id, _, err := l.StartFile(ctx, ledger.File{Partner: "p", Name: "f.csv", SHA256: "same"})
			if err != nil {
				t.Fatal(err)
			}
			return id
		}
		admit := func(id string, hold string, age int) ledger.Decision {
			t.Helper()
			req := request(id)
			req.PatientDetails.Age = age
			ds, err := l.Admit(ctx, file(), []ledger.Booking{{IntegratorID: id, Partner: "p", FirstRow: 2, Rows: []int{2}, Request: req, Hold: hold}},
				[]ledger.Row{{Num: 2, Status: ledger.RowAccepted, IntegratorID: id}})
			if err != nil {
				t.Fatal(err)
			}
			return ds[0]
		}
		settle := func(id string, state ledger.BookingState) {
			t.Helper()
			if _, err := l.Sending(ctx, id, "test"); err != nil {
				t.Fatal(err)
			}
			if state == ledger.InFlight {
				return // the process died with the request on its way
			}
			if err := l.Settle(ctx, ledger.Result{IntegratorID: id, State: state, PreBookingID: "pb-" + id}); err != nil {
				t.Fatal(err)
			}
		}
		for _, tt := range []struct {
			name      string
			first     ledger.BookingState // state the first sighting ended in
			holdAgain string
			ageAgain  int // 30 = the same request
			send      bool
			sendAge   int // the age of the request sent
			state     ledger.BookingState
			duplicate bool
			maybe     bool // the job is marked: an earlier attempt may have booked
		}{
			{"submitted: never again", ledger.Submitted, "", 31, false, 0, ledger.Submitted, true, false},
			{"in flight at a crash: the stored request again, maybe booked", ledger.InFlight, "", 31, true, 30, "", false, true},
			{"waiting to retry: the stored request", ledger.Retry, "", 31, true, 30, "", false, false},
			{"refused, same request: not again", ledger.Rejected, "", 30, false, 0, ledger.Rejected, false, false},
			{"refused, corrected: the new request", ledger.Rejected, "", 31, true, 31, "", false, false},
			{"failed: again", ledger.Failed, "", 30, true, 30, "", false, false},
			{"held, still held", ledger.Held, "no lead_source", 30, false, 0, ledger.Held, false, false},
			{"held, released", ledger.Held, "", 30, true, 30, "", false, false},
			{"unconfirmed: not again, a webhook or a person settles it", ledger.Unconfirmed, "", 31, false, 0, ledger.Unconfirmed, false, false},
		} {
			t.Run(tt.name, func(t *testing.T) {
				id := "p:" + tt.name
				hold := ""
				if tt.first == ledger.Held {
					hold = "no lead_source"
				}
				if d := admit(id, hold, 30); (d.Send != nil) == (hold != "") {
					t.Fatalf("first sighting: %+v", d)
				}
				if tt.first != ledger.Held {
					settle(id, tt.first)
				}
				d := admit(id, tt.holdAgain, tt.ageAgain)
				if (d.Send != nil) != tt.send || d.Duplicate != tt.duplicate {
					t.Fatalf("second sighting: send=%v duplicate=%v; want send=%v duplicate=%v", d.Send != nil, d.Duplicate, tt.send, tt.duplicate)
				}
				if d.Send != nil && d.Send.Request.PatientDetails.Age != tt.sendAge {
					t.Errorf("sends age %d, want the request with age %d", d.Send.Request.PatientDetails.Age, tt.sendAge)
				}
				if d.Send != nil && d.Send.MaybeBooked != tt.maybe {
					t.Errorf("MaybeBooked %v, want %v", d.Send.MaybeBooked, tt.maybe)
				}
				if d.Send == nil && d.State != tt.state {
					t.Errorf("state %q, want %q", d.State, tt.state)
				}
			})
		}
	})
}

func TestFinishFileBalances(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		l := ledger.New(db)
		fid, _, err := l.StartFile(ctx, ledger.File{Partner: "p", Name: "f.csv", SHA256: "a"})
		if err != nil {
			t.Fatal(err)
		}
		// A grouped booking over rows 2-3, a refused one, a rejected row,
		// a skipped total row.
		_, err = l.Admit(ctx, fid, []ledger.Booking{
			{IntegratorID: "p:a", Partner: "p", FirstRow: 2, Rows: []int{2, 3}, Request: request("p:a")},
			{IntegratorID: "p:b", Partner: "p", FirstRow: 4, Rows: []int{4}, Request: request("p:b")},
		}, []ledger.Row{
			{Num: 2, Status: ledger.RowAccepted, IntegratorID: "p:a"}, {Num: 3, Status: ledger.RowAccepted, IntegratorID: "p:a"},
			{Num: 4, Status: ledger.RowAccepted, IntegratorID: "p:b"},
			{Num: 5, Status: ledger.RowRejected, Code: "missing_name", Message: "no name"},
			{Num: 6, Status: ledger.RowSkipped, Message: "total row"},
		})
		if err != nil {
			t.Fatal(err)
		}
		for id, st := range map[string]ledger.BookingState{"p:a": ledger.Submitted, "p:b": ledger.Rejected} {
			l.Sending(ctx, id, "t")
			if err := l.Settle(ctx, ledger.Result{IntegratorID: id, State: st}); err != nil {
				t.Fatal(err)
			}
		}
		c, err := l.FinishFile(ctx, fid, 5)
		if err != nil {
			t.Fatal(err)
		}
		want := ledger.Counts{RowsIn: 5, Submitted: 2, RejectedFlabs: 1, Rejected: 1, Skipped: 1}
		if c != want {
			t.Errorf("counts %+v, want %+v", c, want)
		}
		var stored struct {
			Status    string `db:"status"`
			Submitted int    `db:"rows_submitted"`
		}
		if err := db.GetContext(ctx, &stored, db.Rebind(`SELECT status, rows_submitted FROM files WHERE id = ?`), fid); err != nil {
			t.Fatal(err)
		}
		if stored.Status != "done" || stored.Submitted != 2 {
			t.Errorf("stored %+v", stored)
		}
		// The reader saw a row the ledger never got: that is an error.
		if _, err := l.FinishFile(ctx, fid, 6); !errors.Is(err, ledger.ErrUnbalanced) {
			t.Errorf("6 rows read, 5 recorded: err = %v, want ErrUnbalanced", err)
		}
	})
}

func TestBackoff(t *testing.T) {
	b := submit.Backoff{Min: time.Second, Max: 5 * time.Minute}
	for attempt := 1; attempt <= 20; attempt++ {
		ceiling := min(5*time.Minute, time.Second<<(attempt-1))
		for range 50 {
			d := b.Delay(attempt, 0)
			if d < time.Second || d > ceiling {
				t.Fatalf("attempt %d: %s outside [1s, %s]", attempt, d, ceiling)
			}
		}
	}
	if d := b.Delay(1, 90*time.Second); d < 90*time.Second {
		t.Errorf("Retry-After 90s, waited %s", d)
	}
}

func request(id string) *flabs.BillingRequest {
	return &flabs.BillingRequest{
		PatientDetails: flabs.PatientDetails{FirstName: "Test", Gender: flabs.GenderFemale, Age: 30, AgeType: flabs.AgeYear},
		IntegratorID:   id, LeadSource: "partner",
		MappedTests: []flabs.MappedTest{{ID: "t-1"}},
	}
}

// TestBadBytesNeverFailAFile: a NUL byte or invalid UTF-8 quoted in a
// row's message or a file's reason is stored (made safe) on both
// databases — PostgreSQL refuses such text, which once failed the whole
// file and left it "reading" for ever.
func TestBadBytesNeverFailAFile(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		l := ledger.New(db)
		fid, _, err := l.StartFile(ctx, ledger.File{Partner: "p", Name: "a\x00b\xff.csv", SHA256: "z"})
		if err != nil {
			t.Fatal(err)
		}
		rows := []ledger.Row{{Num: 2, Status: ledger.RowRejected, Code: "bad_characters", Message: "name \"As\x00ha\xc3\" has a NUL"}}
		if _, err := l.Admit(ctx, fid, nil, rows); err != nil {
			t.Fatalf("admit a row whose message quotes bad bytes: %v", err)
		}
		if err := l.FailFile(ctx, fid, errors.New("read: cell \x00\xfe")); err != nil {
			t.Fatalf("fail a file whose reason quotes bad bytes: %v", err)
		}
		var status, reason string
		if err := db.QueryRowx(db.Rebind(`SELECT status, reason FROM files WHERE id = ?`), fid).Scan(&status, &reason); err != nil {
			t.Fatal(err)
		}
		if status != string(ledger.FileFailed) || strings.ContainsRune(reason, 0) || !utf8.ValidString(reason) {
			t.Errorf("file: %s %q", status, reason)
		}
	})
}

// TestConfirmBilledMovesTheFilesAccount: a booking left unconfirmed that
// a bill event names is submitted, and its file's account says so.
func TestConfirmBilledMovesTheFilesAccount(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		l := ledger.New(db)
		fid, _, err := l.StartFile(ctx, ledger.File{Partner: "p", Name: "f.csv", SHA256: "cb"})
		if err != nil {
			t.Fatal(err)
		}
		var bs []ledger.Booking
		var rows []ledger.Row
		for i, id := range []string{"p:billed", "p:silent"} {
			bs = append(bs, ledger.Booking{IntegratorID: id, Partner: "p", FirstRow: i + 2, Rows: []int{i + 2}, Request: request(id)})
			rows = append(rows, ledger.Row{Num: i + 2, Status: ledger.RowAccepted, IntegratorID: id})
		}
		if _, err := l.Admit(ctx, fid, bs, rows); err != nil {
			t.Fatal(err)
		}
		for _, id := range []string{"p:billed", "p:silent"} {
			l.Sending(ctx, id, "t")
			l.Settle(ctx, ledger.Result{IntegratorID: id, State: ledger.Unconfirmed, Error: "409"})
		}
		if c, err := l.FinishFile(ctx, fid, 2); err != nil || c.Unconfirmed != 2 {
			t.Fatalf("finish: %+v, %v", c, err)
		}
		if _, err := db.ExecContext(ctx, db.Rebind(`INSERT INTO booking_state (integrator_id, state, updated_at) VALUES (?, 'created', ?)`),
			"p:billed", store.T(time.Now())); err != nil {
			t.Fatal(err)
		}
		n, err := l.ConfirmBilled(ctx, time.Now())
		if err != nil || n != 1 {
			t.Fatalf("confirmed %d, %v; want 1", n, err)
		}
		files, err := l.FilesReceived(ctx, time.Now().Add(-time.Hour), time.Now().Add(time.Hour))
		if err != nil || len(files) != 1 {
			t.Fatalf("files: %+v, %v", files, err)
		}
		if c := files[0].Counts; c.Submitted != 1 || c.Unconfirmed != 1 || !c.Balanced() {
			t.Errorf("the file's account after the bill event: %+v; want 1 submitted, 1 unconfirmed, balanced", c)
		}
		if n, _ := l.ConfirmBilled(ctx, time.Now()); n != 0 {
			t.Errorf("a second confirm moved %d", n)
		}
	})
}

// TestConfirmBilledSettlesRejectedAndFailed: a bill event proves Flabs
// booked it, whatever the answers seemed to say: a booking left rejected
// or failed that a bill event names is submitted too, its file's account
// moves, and its last error no longer reads as a refusal. One with no
// bill stays as it was.
func TestConfirmBilledSettlesRejectedAndFailed(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		l := ledger.New(db)
		fid, _, err := l.StartFile(ctx, ledger.File{Partner: "p", Name: "f.csv", SHA256: "rf"})
		if err != nil {
			t.Fatal(err)
		}
		ids := []string{"p:rejected", "p:failed", "p:unconfirmed", "p:rejected-nobill"}
		states := []ledger.BookingState{ledger.Rejected, ledger.Failed, ledger.Unconfirmed, ledger.Rejected}
		var bs []ledger.Booking
		var rows []ledger.Row
		for i, id := range ids {
			bs = append(bs, ledger.Booking{IntegratorID: id, Partner: "p", FirstRow: i + 2, Rows: []int{i + 2}, Request: request(id)})
			rows = append(rows, ledger.Row{Num: i + 2, Status: ledger.RowAccepted, IntegratorID: id})
		}
		if _, err := l.Admit(ctx, fid, bs, rows); err != nil {
			t.Fatal(err)
		}
		for i, id := range ids {
			l.Sending(ctx, id, "t")
			if err := l.Settle(ctx, ledger.Result{IntegratorID: id, State: states[i], HTTPStatus: 400, Error: "flabs billing create: 400 Bad Request (permanent)"}); err != nil {
				t.Fatal(err)
			}
		}
		if c, err := l.FinishFile(ctx, fid, len(ids)); err != nil || c.RejectedFlabs != 2 || c.Failed != 1 || c.Unconfirmed != 1 {
			t.Fatalf("finish: %+v, %v", c, err)
		}
		for _, id := range ids[:3] {
			if _, err := db.ExecContext(ctx, db.Rebind(`INSERT INTO booking_state (integrator_id, state, updated_at) VALUES (?, 'created', ?)`),
				id, store.T(time.Now())); err != nil {
				t.Fatal(err)
			}
		}
		n, err := l.ConfirmBilled(ctx, time.Now())
		if err != nil || n != 3 {
			t.Fatalf("confirmed %d, %v; want 3", n, err)
		}
		st, err := l.States(ctx, ids)
		if err != nil {
			t.Fatal(err)
		}
		for _, id := range ids[:3] {
			if st[id].Status != ledger.Submitted || strings.Contains(st[id].Error, "400") {
				t.Errorf("%s after its bill event: %+v; want submitted, the refusal no longer its last word", id, st[id])
			}
		}
		if st["p:rejected-nobill"].Status != ledger.Rejected {
			t.Errorf("a rejected booking with no bill: %s, want it left rejected", st["p:rejected-nobill"].Status)
		}
		files, err := l.FilesReceived(ctx, time.Now().Add(-time.Hour), time.Now().Add(time.Hour))
		if err != nil || len(files) != 1 {
			t.Fatalf("files: %+v, %v", files, err)
		}
		if c := files[0].Counts; c.Submitted != 3 || c.RejectedFlabs != 1 || c.Failed != 0 || c.Unconfirmed != 0 || !c.Balanced() {
			t.Errorf("the file's account after the bill events: %+v; want 3 submitted, 1 refused, balanced", c)
		}
	})
}
