package schedules

import (
	"strings"
	"testing"
)

// TestStatusPrintsBacklog: the text form names each partner's waiting
// bookings and the age of its oldest, or says none wait.
func TestStatusPrintsBacklog(t *testing.T) {
	s := (&Status{Backlog: []BacklogStatus{{Partner: "citycare", Waiting: 12, OldestSeconds: 961.4}}}).Text()
	if !strings.Contains(s, "backlog    citycare: 12 waiting, the oldest for 16m1s\n") {
		t.Errorf("status:\n%s", s)
	}
	s = (&Status{Backlog: []BacklogStatus{}}).Text()
	if !strings.Contains(s, "backlog    none\n") {
		t.Errorf("status with nothing waiting:\n%s", s)
	}
}
