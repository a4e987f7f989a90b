package reconcile_test

import (
	"testing"
	"time"

	"github.com/flabsync/flabsync/reconcile"
)

func TestParseAction(t *testing.T) {
	loc := time.FixedZone("IST", 5*3600+1800)
	for cell, want := range map[string]reconcile.Decision{
		"close":              {Action: reconcile.ActionClose},
		"  Close ":           {Action: reconcile.ActionClose},
		"REOPEN":             {Action: reconcile.ActionReopen},
		"snooze 2026-12-05":  {Action: reconcile.ActionSnooze, Until: time.Date(2026, 12, 5, 0, 0, 0, 0, loc)},
		"Snooze  2026-12-05": {Action: reconcile.ActionSnooze, Until: time.Date(2026, 12, 5, 0, 0, 0, 0, loc)},
	} {
		got, ok, err := reconcile.ParseAction(cell, loc)
		if err != nil || !ok || got.Action != want.Action || !got.Until.Equal(want.Until) {
			t.Errorf("%q: %+v %v %v, want %+v", cell, got, ok, err, want)
		}
	}
	if _, ok, err := reconcile.ParseAction("  ", loc); ok || err != nil {
		t.Errorf("blank: ok %v err %v", ok, err)
	}
	for _, bad := range []string{"clsoe", "snooze", "snooze tomorrow", "snooze 2026-13-01", "close now", "delete"} {
		if _, _, err := reconcile.ParseAction(bad, loc); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func FuzzParseAction(f *testing.F) {
	for _, s := range []string{"close", "snooze 2026-12-05", "reopen", "", "snooze"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, cell string) {
		d, ok, err := reconcile.ParseAction(cell, time.UTC)
		if err != nil && ok {
			t.Fatal("ok with an error")
		}
		if ok && d.Action == reconcile.ActionSnooze && d.Until.IsZero() {
			t.Fatal("snooze without a day")
		}
	})
}
