package retention_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/flabsync/flabsync/internal/config"
	"github.com/flabsync/flabsync/internal/flabs"
	"github.com/flabsync/flabsync/internal/store"
	"github.com/flabsync/flabsync/pipeline/ledger"
	"github.com/flabsync/flabsync/reconcile/webhook"
)

// The patient data the tests look for: distinctive enough that finding
// it anywhere means it was not erased.
const (
	oldName  = "Quixotefield"
	oldPhone = "9876543210"
	newName  = "Newbookingham"
	newPhone = "9123456780"
)

// world is a ledger with old data (100 days) and new data (now), and the
// files on disk that go with it.
type world struct {
	cfg  *config.Config
	dir  string
	now  time.Time
	old  time.Time
	keep []string // files that must survive
	gone []string // files a prune deletes
}

// seed fills db: per age, a file with three bookings (one submitted and
// billed, one refused by Flabs, one submitted with no bill) and a
// rejected row quoting a phone number; bill events whose bodies carry the
// patient's name and phone; and the sheets, notes and reject files on
// disk.
func seed(t *testing.T, db *store.DB) *world {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	cfg := config.Default()
	cfg.Inbox.ArchiveDir = filepath.Join(dir, "archive")
	cfg.Inbox.ErrorDir = filepath.Join(dir, "errors")
	cfg.Report.Dir = filepath.Join(dir, "reports")
	cfg.Timezone = "UTC"
	w := &world{cfg: &cfg, dir: dir, now: time.Now().UTC(), old: time.Now().UTC().Add(-100 * 24 * time.Hour)}

	l := ledger.New(db)
	recv := webhook.New(db, cfg.Webhook, nil)
	defer recv.Close()
	exec := func(q string, args ...any) {
		t.Helper()
		if _, err := db.ExecContext(ctx, db.Rebind(q), args...); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	for _, age := range []struct {
		tag, name, phone string
		at               time.Time
	}{{"old", oldName, oldPhone, w.old}, {"new", newName, newPhone, w.now}} {
		day := age.at.Format(time.DateOnly)
		sheet := filepath.Join(cfg.Inbox.ArchiveDir, day, "p_"+age.tag+".csv")
		writeFile(t, sheet, "name,mobile\nZ "+age.name+","+age.phone+"\n", w.now)
		fid, _, err := l.StartFile(ctx, ledger.File{Partner: "p", Name: "p_" + age.tag + ".csv", Path: sheet, SHA256: age.tag})
		if err != nil {
			t.Fatal(err)
		}
		var bs []ledger.Booking
		var rows []ledger.Row
		for i, s := range []string{"billed", "refused", "nobill"} {
			id := "p:" + age.tag + "-" + s
			bs = append(bs, ledger.Booking{IntegratorID: id, Partner: "p", FirstRow: i + 2, Rows: []int{i + 2},
				Items: []ledger.Item{{Kind: "test", Name: "CBC", Target: "t1", TargetKey: "id", How: "alias"}},
				Request: &flabs.BillingRequest{IntegratorID: id, LabID: "lab1", LeadSource: "Sunrise", BarCode: "BC" + age.phone,
					PatientDetails: flabs.PatientDetails{FirstName: "Zeb", LastName: age.name, Gender: "Male", Age: 40, AgeType: "year"},
					MappedTests:    []flabs.MappedTest{{ID: "t1"}}}})
			rows = append(rows, ledger.Row{Num: i + 2, Status: ledger.RowAccepted, Ref: "REF-" + age.name, IntegratorID: id})
		}
		rows = append(rows, ledger.Row{Num: 5, Status: ledger.RowRejected, Code: "age", Ref: "REF-" + age.name,
			Message: fmt.Sprintf("age %q is over 120 years", age.phone)})
		if _, err := l.Admit(ctx, fid, bs, rows); err != nil {
			t.Fatal(err)
		}
		for _, b := range bs {
			if _, err := l.Sending(ctx, b.IntegratorID, "t"); err != nil {
				t.Fatal(err)
			}
			r := ledger.Result{IntegratorID: b.IntegratorID, State: ledger.Submitted, PreBookingID: "pb-" + b.IntegratorID}
			if b.FirstRow == 3 {
				r = ledger.Result{IntegratorID: b.IntegratorID, State: ledger.Rejected, HTTPStatus: 400, Error: "invalid age type"}
			}
			if err := l.Settle(ctx, r); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := l.FinishFile(ctx, fid, 4); err != nil {
			t.Fatal(err)
		}
		body := fmt.Sprintf(`{"labID":"lab1","eventType":"bill.created","eventTime":%d,"data":{"billID":"bill-%s","integratorID":"p:%s-billed",
"billData":{"status":"created","patientName":"Zeb %s","mobile":"%s","testData":[{"_id":"t1","status":"pending"}]}}}`,
			age.at.Unix(), age.tag, age.tag, age.name, age.phone)
		if res, err := recv.Ingest(ctx, []byte(body), "test"); err != nil || res.Status != webhook.StatusStored {
			t.Fatalf("ingest: %+v, %v", res, err)
		}
		// A refused sheet, and the note beside it.
		refused := filepath.Join(cfg.Inbox.ErrorDir, day, "p_"+age.tag+"_bad.csv")
		writeFile(t, refused, "Zeb "+age.name+","+age.phone+"\n", w.now)
		writeFile(t, refused+".error.txt", "no header: \"Zeb "+age.name+"\"\n", w.now)
		if err := l.RecordRefused(ctx, "p", filepath.Base(refused), refused, "no header row"); err != nil {
			t.Fatal(err)
		}
		// A reject file, dated by its modification time only.
		rejects := filepath.Join(cfg.Report.Dir, "p_rejects_"+day+".csv")
		writeFile(t, rejects, "name,mobile,Reject reason\nZeb "+age.name+","+age.phone+",age\n", age.at)
		files := []string{sheet, refused, refused + ".error.txt", rejects}
		if age.tag == "old" {
			// Back-date what the ledger and the receiver recorded.
			ts := store.T(age.at)
			exec(`UPDATE files SET created_at = ?, updated_at = ?, finished_at = ? WHERE sha256 = 'old' OR name = 'p_old_bad.csv'`, ts, ts, ts)
			exec(`UPDATE bookings SET created_at = ?, updated_at = ?, submitted_at = ? WHERE integrator_id LIKE 'p:old-%'`, ts, ts, ts)
			exec(`UPDATE webhook_raw SET received_at = ?`, ts)
			exec(`UPDATE webhook_events SET received_at = ?`, ts)
			w.gone = files
		} else {
			w.keep = files
		}
	}
	// Neither the ledger's nor the file's own time: an old stray in errors/
	// with no note goes by its modification time; a workbook is not ours.
	stray := filepath.Join(cfg.Inbox.ErrorDir, w.old.Format(time.DateOnly), "stray.csv")
	writeFile(t, stray, "x\n", w.old)
	w.gone = append(w.gone, stray)
	book := filepath.Join(cfg.Report.Dir, "exceptions-"+w.old.Format(time.DateOnly)+".xlsx")
	writeFile(t, book, "x", w.old)
	w.keep = append(w.keep, book)
	return w
}

func writeFile(t *testing.T, path, body string, mod time.Time) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(path, mod, mod); err != nil {
		t.Fatal(err)
	}
}

// dbText is every text the ledger and receiver keep that may hold patient
// data, concatenated, for a search.
func dbText(t *testing.T, db *store.DB) string {
	t.Helper()
	var parts []string
	q := `SELECT request FROM bookings UNION ALL SELECT message || ' ' || ref FROM sheet_rows
UNION ALL SELECT reason FROM files UNION ALL SELECT CAST(body AS TEXT) FROM webhook_raw`
	if db.Dialect() == store.Postgres {
		q = `SELECT request FROM bookings UNION ALL SELECT message || ' ' || ref FROM sheet_rows
UNION ALL SELECT reason FROM files UNION ALL SELECT convert_from(body, 'UTF8') FROM webhook_raw`
	}
	if err := db.SelectContext(context.Background(), &parts, q); err != nil {
		t.Fatal(err)
	}
	return fmt.Sprint(parts)
}
