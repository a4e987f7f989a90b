package main

import (
	"strings"
	"testing"

	"github.com/flabsync/flabsync/schedules"
)

// TestStatusPrintsBacklog: the text form names each partner's waiting
// bookings and the age of its oldest, or says none wait.
func TestStatusPrintsBacklog(t *testing.T) {
	var b strings.Builder
	printStatus(&b, &schedules.Status{Backlog: []schedules.BacklogStatus{{Partner: "citycare", Waiting: 12, OldestSeconds: 961.4}}})
	if !strings.Contains(b.String(), "backlog    citycare: 12 waiting, the oldest for 16m1s\n") {
		t.Errorf("status:\n%s", b.String())
	}
	b.Reset()
	printStatus(&b, &schedules.Status{Backlog: []schedules.BacklogStatus{}})
	if !strings.Contains(b.String(), "backlog    none\n") {
		t.Errorf("status with nothing waiting:\n%s", b.String())
	}
}
