package webhook_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/flabsync/flabsync/internal/flabs"
	"github.com/flabsync/flabsync/reconcile/webhook"
)

// Every sample payload in the documented shape parses.
func TestParseFixtures(t *testing.T) {
	for _, name := range fixtureNames(t) {
		ev, err := webhook.Parse(fixture(t, name))
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if ev.EventType == "" || ev.EventTime == 0 || ev.Data.BillID == "" || len(ev.Key) != 51 {
			t.Errorf("%s parsed to %+v", name, ev)
		}
	}
}

// The reason in a 400 says what is wrong, by field, without quoting the
// sender's values.
func TestParseReasons(t *testing.T) {
	tests := []struct {
		body   string
		reason string
	}{
		{`{"eventType":"bill.created","eventTime":"1795939200","data":{"billID":"b"}}`, "eventTime must be a number (Unix seconds), got a string"},
		{`{"eventType":"bill.created","eventTime":1795939200.5,"data":{"billID":"b"}}`, "eventTime must be a whole number of seconds"},
		{`{"eventType":"bill.created","eventTime":1795939200,"data":[]}`, "data must be an object, got an array"},
		{`{"eventType":"bill.created","eventTime":1795939200}`, "data is required"},
		{`{"eventType":"bill.created","eventTime":1795939200,"data":{"billID":42}}`, "data.billID must be a string, got a number"},
		{`{"eventType":"bill.created","eventTime":1795939200,"data":{"billID":"b","billData":{"testData":{}}}}`, "data.billData.testData must be an array"},
		{`{"eventType":"bill.created","eventTime":1795939200,"data":{"billID":"b","billData":{"testData":[{"_id":1}]}}}`, "data.billData.testData[0]._id must be a string"},
		{`{"eventType":"bill.created","eventTime":1795939200,"data":{"billID":"b\u0000"}}`, "data.billID contains a NUL character"},
		{`{"eventType":"bill.created","eventTime":1795939200,"data":{"billID":"` + strings.Repeat("b", 300) + `"}}`, "data.billID is longer than 256 bytes"},
		{`{"eventType":""}`, "eventType must not be empty"},
		{`{"eventType":"bill.created"} {}`, "more data after the first value"},
		{`"bill.created"`, "want a JSON object, got a string"},
		{`{"eventType":"bill.created",}`, "not JSON: invalid character"},
	}
	for _, tt := range tests {
		_, err := webhook.Parse([]byte(tt.body))
		var pe *webhook.ParseError
		if !errors.As(err, &pe) || !errors.Is(err, webhook.ErrInvalid) || !strings.Contains(pe.Reason, tt.reason) {
			t.Errorf("Parse(%.60s) = %v; want a ParseError containing %q", tt.body, err, tt.reason)
		}
	}
}

// Two deliveries are the same event exactly when their payloads say the
// same thing: spacing and key order do not matter; the type, time, a
// test's status or a field the docs do not list do.
func TestKey(t *testing.T) {
	base := fixture(t, "report_completed_1.json")
	key := mustKey(t, base)
	var compact bytes.Buffer
	if err := json.Compact(&compact, base); err != nil {
		t.Fatal(err)
	}
	reordered := `{"data":{"integratorID":"sunrise:SR-1001","billID":"6560b0c1d2e3f4a5b6c7d8e9","billData":{"testData":[` +
		`{"status":"completed","_id":"6560b0c1d2e3f4a5b6c7d801"},{"status":"pending","_id":"6560b0c1d2e3f4a5b6c7d802"}],` +
		`"status":"partially_completed"}},"eventTime":1795940400,"eventType":"report.completed","labID":"6530a4a6f1d2c8b7e9a12345"}`
	for name, b := range map[string]string{"compact": compact.String(), "keys reordered": reordered} {
		if k := mustKey(t, []byte(b)); k != key {
			t.Errorf("%s: key %s, want the original's %s", name, k, key)
		}
	}
	for name, change := range map[string][2]string{
		"other type":       {`"report.completed"`, `"bill.completed"`},
		"other time":       {`1795940400`, `1795940401`},
		"other status":     {`"status": "pending"`, `"status": "completed"`},
		"undocumented":     {`"labID"`, `"extra": 1, "labID"`},
		"other integrator": {`sunrise:SR-1001`, `sunrise:SR-1002`},
	} {
		b := strings.Replace(string(base), change[0], change[1], 1)
		if b == string(base) {
			t.Fatalf("%s: replacement %q not found", name, change[0])
		}
		if mustKey(t, []byte(b)) == key {
			t.Errorf("%s: same key as the original", name)
		}
	}
}

// data.integratorID may be as long as the pipeline lets an integrator ID
// be (flabs.MaxIntegratorIDLen), and no longer.
func TestParseIntegratorIDLimit(t *testing.T) {
	body := func(n int) []byte {
		return []byte(`{"eventType":"bill.created","eventTime":1795939200,"data":{"billID":"b","integratorID":"p:` +
			strings.Repeat("R", n-2) + `"}}`)
	}
	ev, err := webhook.Parse(body(flabs.MaxIntegratorIDLen))
	if err != nil || len(ev.Data.IntegratorID) != flabs.MaxIntegratorIDLen {
		t.Errorf("integratorID of %d bytes: %v; want it parsed", flabs.MaxIntegratorIDLen, err)
	}
	_, err = webhook.Parse(body(flabs.MaxIntegratorIDLen + 1))
	var pe *webhook.ParseError
	if !errors.As(err, &pe) || pe.Reason != "data.integratorID is longer than 256 bytes" {
		t.Errorf("integratorID of %d bytes: %v; want refused naming the limit", flabs.MaxIntegratorIDLen+1, err)
	}
}

func mustKey(t *testing.T, b []byte) string {
	t.Helper()
	ev, err := webhook.Parse(b)
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return ev.Key
}
