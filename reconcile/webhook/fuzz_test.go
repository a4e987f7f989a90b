package webhook_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/flabsync/flabsync/reconcile/webhook"
)

// FuzzParseEvent: the parser never panics; what it refuses is a
// *ParseError with a reason; what it accepts has a key, led by its eventTime, that is the same
// when parsed again and when the body is re-encoded (other spacing, keys
// sorted), and the fields the receiver stores.
func FuzzParseEvent(f *testing.F) {
	for _, name := range fixtureNames(f) {
		f.Add(fixture(f, name))
	}
	for _, s := range []string{
		`{}`, `[]`, `null`, `{"eventType":"bill.created","eventTime":1795939200,"data":{"billID":"b"}}`,
		`{"eventType":"lead.created","eventTime":1795939200}`,
		`{"eventType":"report.completed","eventTime":1795939200,"data":{"billID":"b","billData":{"testData":[{"_id":"t","status":"done"}]}}}`,
		`{"eventType":"bill.created","eventTime":1e9,"data":{"billID":"b"}}`,
		`{"eventType":"x","eventTime":1795939200,"eventType":"y"}`,
		"{\"eventType\":\"\xff\",\"eventTime\":1795939200}",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		ev, err := webhook.Parse(body)
		if err != nil {
			var pe *webhook.ParseError
			if !errors.As(err, &pe) || pe.Reason == "" || !errors.Is(err, webhook.ErrInvalid) {
				t.Fatalf("Parse error %v (%T) is not a ParseError with a reason", err, err)
			}
			return
		}
		if !strings.HasPrefix(ev.Key, fmt.Sprintf("%010d-", ev.EventTime)) || len(ev.Key) != 51 || ev.EventType == "" {
			t.Fatalf("accepted event lacks key, type or time: %+v", ev)
		}
		again, err := webhook.Parse(body)
		if err != nil || again.Key != ev.Key {
			t.Fatalf("second parse: %v, key %s vs %s", err, again.Key, ev.Key)
		}
		dec := json.NewDecoder(bytes.NewReader(body))
		dec.UseNumber()
		var v any
		if err := dec.Decode(&v); err != nil {
			t.Fatalf("accepted body does not decode: %v", err)
		}
		canonical, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		var indented bytes.Buffer
		if err := json.Indent(&indented, canonical, " ", "\t"); err != nil {
			t.Fatal(err)
		}
		for name, b := range map[string][]byte{"canonical": canonical, "indented": indented.Bytes()} {
			re, err := webhook.Parse(b)
			if err != nil {
				t.Fatalf("%s re-encoding refused: %v\n%s", name, err, b)
			}
			if re.Key != ev.Key {
				t.Fatalf("%s re-encoding changed the key\nbody: %q\nre:   %q", name, body, b)
			}
		}
	})
}
