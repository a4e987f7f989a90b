package main

import (
	"archive/zip"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/xuri/excelize/v2"

	"github.com/flabsync/flabsync/internal/flabs/flabstest"
	"github.com/flabsync/flabsync/internal/mail/mailtest"
)

// canaries are patient data no code, fixture or message of flabsync
// holds: names, a phone, a date of birth, a barcode. The canary test drives
// them through every door and greps every output for them.
var canaries = []string{
	"Orvalquist",   // a booked patient's first name
	"Mirthlewaite", // a booked patient's last name
	"Bexandrine",   // the name of a patient whose row is rejected
	"Tamsquorth",   // a name typed into the age column of every row of a file
	"Wendlequay",   // a patient a clinic named a sheet's tab after
	"Pruxelmoor",   // a patient in a file with no header row
	"Klimbrostow",  // a patient in a hand-run import
	"Ysoldquint",   // a patient named in a webhook's body
	"7400918273",   // a phone number
	"1958-03-17",   // a date of birth (as sent)
	"17/03/1958",   // the same date of birth (as typed)
	"BCQX9917",     // a barcode
}

// TestCanaryPatientDataStaysPut: distinctive names, a phone, a date of
// birth and a barcode go through every way in — serve's inbox and a
// hand-run import; good, partly rejected and refused files; a sheet tab
// named after a patient; a file with no header; Flabs' refusals; webhooks
// — and every way out is read back: the logs at debug level, the reason
// notes, the exception workbook, the digest and the receipts' bodies,
// /metrics, status and the exception list, and, after a prune, the
// database's bytes. None holds one. (The clinic's own files — the sheets
// archived or refused, the reject file and a receipt's attached rows to
// correct — may, until the prune deletes them.)
func TestCanaryPatientDataStaysPut(t *testing.T) {
	t.Parallel() // it waits on child processes, mostly: it runs beside the others
	if testing.Short() {
		t.Skip("runs flabsync as child processes")
	}
	srv := mailtest.Start(t, mailtest.Options{})
	hl, err := net.Listen("tcp", "127.0.0.1:0") // a free port for serve's webhook receiver
	if err != nil {
		t.Fatal(err)
	}
	hookAddr := hl.Addr().String()
	hl.Close()
	hookURL := "http://" + hookAddr + "/webhooks/flabs"
	dir, _, sim := sendRig(t, 0, flabstest.Options{ForbiddenLeadSources: []string{"lapsed"}, EchoPatient: true,
		Webhooks: flabstest.WebhookOptions{URL: hookURL, AuthToken: "test-token"}})
	os.Remove(filepath.Join(dir, "crashclinic_2026-11-25.csv"))
	inboxDir := withServe(t, dir, func(cfg string) string {
		return strings.Replace(cfg, "level: warn", "level: debug", 1)
	})
	cfgPath := filepath.Join(dir, "flabsync.yaml")
	cfgText, _ := os.ReadFile(cfgPath)
	os.WriteFile(cfgPath, bytes.Replace(cfgText, []byte(`webhook: {listen: "127.0.0.1:0"`), []byte(`webhook: {listen: "`+hookAddr+`"`), 1), 0o600)
	appendFile(t, filepath.Join(dir, "flabsync.yaml"), fmt.Sprintf(`mail:
  smtp_url: smtp://127.0.0.1:%d?starttls=none
  from: lab@lab.example
  to: ops@lab.example
report: {dir: %s}
partners:
  canary: {email: desk@canary.example}
  allbad: {email: desk@allbad.example}
  tabs: {email: desk@tabs.example}
  noheader: {email: desk@noheader.example}
  lapsed: {email: desk@lapsed.example, lead_source: lapsed}
  handrun: {email: desk@handrun.example}
`, srv.Port, filepath.Join(dir, "reports")))

	// The files clinics send.
	write := func(name, body string) string {
		t.Helper()
		p := filepath.Join(dir, "drop", name)
		os.MkdirAll(filepath.Dir(p), 0o700)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	const head = "Booking ID,Patient Name,Age,Gender,Mobile,DOB,Barcode,Tests\n"
	files := []string{
		write("canary_0612.csv", head+
			"C-1,Orvalquist Mirthlewaite,,M,7400918273,17/03/1958,BCQX9917,CBC\n"+
			"C-2,Bexandrine,Bexandrine,F,,,,CBC\n"+ // rejected: a name in the age column
			"C-3,Bexandrine Orvalquist,40,F,,31/02/1961 Orvalquist,,CBC\n"), // rejected: a bad date of birth quoting a name
		write("allbad_0612.csv", head+
			"A-1,Tamsquorth,Tamsquorth,F,,,,CBC\n"+
			"A-2,Tamsquorth Two,Tamsquorth,M,,,,CBC\n"), // every row invalid: a refused file
		write("noheader_0612.csv", "Pruxelmoor,44,F,CBC\nPruxelmoor Two,45,M,CBC\n"),
		write("lapsed_0612.csv", head+"L-1,Orvalquist Lapsed,33,M,7400918273,,,CBC\n"), // Flabs answers 403
	}
	tabs := filepath.Join(dir, "drop", "tabs_0612.xlsx")
	x := excelize.NewFile()
	x.SetSheetName("Sheet1", "Wendlequay")
	for i, row := range [][]any{{"Booking ID", "Patient Name", "Age", "Gender", "Tests"}, {"T-1", "Wendlequay", "", "F", "CBC"}, {"T-2", "Wendlequay Two", 50, "F", "CBC"}} {
		x.SetSheetRow("Wendlequay", fmt.Sprintf("A%d", i+1), &row)
	}
	if err := x.SaveAs(tabs); err != nil {
		t.Fatal(err)
	}
	files = append(files, tabs)

	cmd := child(t, dir, "serve")
	var logs syncBuffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill() })
	os.MkdirAll(inboxDir, 0o700)
	for _, f := range files {
		if err := os.Rename(f, filepath.Join(inboxDir, filepath.Base(f))); err != nil {
			t.Fatal(err)
		}
	}
	waitFor := func(what string, ok func() bool) {
		t.Helper()
		deadline := time.Now().Add(60 * time.Second)
		for !ok() {
			if time.Now().After(deadline) {
				t.Fatalf("%s: not within 60s\n%s", what, logs.String())
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	waitFor("every file handled", func() bool {
		a, _ := filepath.Glob(filepath.Join(dir, "archive", "*", "*_0612.*"))
		e, _ := filepath.Glob(filepath.Join(dir, "errors", "*", "*_0612.csv"))
		return len(a)+len(e) == len(files)
	})
	// A hand-run import of another clinic's file.
	hand := write("handrun_0612.csv", head+"H-1,Klimbrostow,61,M,7400918273,,,CBC\nH-2,Klimbrostow,Klimbrostow,M,,,,CBC\n")
	imp := child(t, dir, "import", "--no-progress", hand)
	var impErr bytes.Buffer
	imp.Stderr = &impErr
	imp.Run()

	// Webhooks: Flabs' own, and one whose body names a patient.
	if n := sim.Advance(t.Context(), 72*time.Hour); n == 0 {
		t.Errorf("the simulator delivered no webhook")
	}
	body := `{"labID":"x","eventType":"bill.created","eventTime":1,"data":{"integratorID":"canary:C-1","billID":"b-c1","patientName":"Ysoldquint","mobile":"7400918273"}}`
	req, _ := http.NewRequest("POST", hookURL, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer test-token")
	if resp, err := http.DefaultClient.Do(req); err == nil {
		resp.Body.Close()
	}

	admin := regexp.MustCompile(`admin (http://[0-9.:]+)`).FindStringSubmatch(logs.String())
	if admin == nil {
		t.Fatalf("serve did not say where its admin endpoints are:\n%s", logs.String())
	}
	resp, err := http.Get(admin[1] + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	time.Sleep(time.Second) // receipts go out in the background
	cmd.Process.Signal(syscall.SIGTERM)
	if err := cmd.Wait(); err != nil {
		t.Errorf("serve exit: %v", err)
	}

	outputs := map[string][]byte{"serve's log (debug)": []byte(logs.String()), "import's log": impErr.Bytes(), "/metrics": metrics}
	cli := func(args ...string) {
		out, _ := child(t, dir, args...).CombinedOutput()
		outputs[strings.Join(args, " ")] = out
	}
	cli("reconcile", "--email")
	cli("status")
	cli("status", "--json")
	cli("exceptions", "list")
	cli("exceptions", "list", "--json")

	// Every file flabsync wrote that is not the clinic's own data.
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil
		}
		rel, _ := filepath.Rel(dir, p)
		switch {
		case strings.HasPrefix(rel, "drop"+string(filepath.Separator)), strings.HasPrefix(rel, "flabsync.db"):
			return nil
		case strings.HasSuffix(rel, ".error.txt"):
			b, _ := os.ReadFile(p)
			outputs[rel] = b
		case strings.HasSuffix(rel, ".xlsx") && strings.HasPrefix(rel, "reports"):
			outputs[rel] = unzipAll(t, p)
		}
		return nil
	})
	for _, m := range srv.Messages() {
		p := mailtest.Parse(t, m.Data)
		name := "email " + p.Subject
		outputs[name+" (body)"] = []byte(p.Subject + "\n" + p.Text + "\n" + p.HTML)
		if strings.HasSuffix(p.AttachName, ".xlsx") {
			outputs[name+" (workbook)"] = unzipAllBytes(t, p.Attachment)
		}
	}
	if len(srv.Messages()) < 2 {
		t.Errorf("%d emails: want the digest and the receipts", len(srv.Messages()))
	}

	// The test sees what it checks: the canaries went in, and the
	// clinic's own files (the reject files, a receipt's rows to correct)
	// and the database before the prune hold them.
	dbBytes := func() []byte {
		var db []byte
		for _, s := range []string{"", "-wal"} {
			b, _ := os.ReadFile(filepath.Join(dir, "flabsync.db"+s))
			db = append(db, b...)
		}
		return db
	}
	var rejects, attached []byte
	if m, _ := filepath.Glob(filepath.Join(dir, "reports", "canary_rejects_*.csv")); len(m) == 1 {
		rejects, _ = os.ReadFile(m[0])
	}
	for _, m := range srv.Messages() {
		attached = append(attached, mailtest.Parse(t, m.Data).Attachment...)
	}
	for what, b := range map[string][]byte{"the database before the prune": dbBytes(), "canary's reject file": rejects, "the receipts' attached rows": attached} {
		if !bytes.Contains(bytes.ToLower(b), []byte("bexandrine")) {
			t.Errorf("%s lacks the rejected row's cell: the test does not see what it checks", what)
		}
	}

	// After the prune, the database bytes.
	cli("prune", "--at", time.Now().Add(200*24*time.Hour).Format(time.RFC3339))
	outputs["the database after prune"] = dbBytes()

	for where, b := range outputs {
		t.Logf("read %s: %d bytes", where, len(b))
		for _, c := range canaries {
			if i := bytes.Index(bytes.ToLower(b), bytes.ToLower([]byte(c))); i >= 0 { // messages may fold case
				from, to := max(0, i-80), min(len(b), i+len(c)+40)
				t.Errorf("%s holds %q: …%s…", where, c, printable(b[from:to]))
			}
		}
	}
}

// unzipAll returns every part of the zip (an XLSX) at path, concatenated.
func unzipAll(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return unzipAllBytes(t, b)
}

func unzipAllBytes(t *testing.T, b []byte) []byte {
	t.Helper()
	zr, err := zip.NewReader(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatalf("not a zip: %v", err)
	}
	var all []byte
	for _, f := range zr.File {
		rc, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		part, _ := io.ReadAll(rc)
		rc.Close()
		all = append(all, part...)
	}
	return all
}

func printable(b []byte) string {
	return strings.Map(func(r rune) rune {
		if r < ' ' && r != '\n' {
			return '.'
		}
		return r
	}, string(b))
}
