package schedules

import (
	"fmt"
	"os"
	"os/exec"
	"slices"
	"testing"
	"time"

	"github.com/flabsync/flabsync/internal/store"
	"github.com/flabsync/flabsync/internal/store/storetest"
	"github.com/flabsync/flabsync/pipeline/ledger"
)

// TestEndGoneHeartbeats: a serve starting under a name ends the heartbeat
// of that name's earlier run, and an import ends those of this machine's
// imports whose process is gone; a live import of this machine, another
// serve's and a process of another machine keep theirs (only their
// heartbeat says whether they live).
func TestEndGoneHeartbeats(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := t.Context()
		led := ledger.New(db).WithTakeover(time.Minute)
		dead := exec.Command("true")
		if err := dead.Run(); err != nil {
			t.Skip("no process to outlive:", err)
		}
		deadImport := fmt.Sprintf("%s:%d", Holder(), dead.Process.Pid)
		liveImport := fmt.Sprintf("%s:%d", Holder(), os.Getppid())
		for _, h := range []string{"a:111", "b:222", deadImport, liveImport, "someone@elsewhere:333"} {
			if err := led.Heartbeat(ctx, h); err != nil {
				t.Fatal(err)
			}
		}
		if err := endGoneHeartbeats(ctx, led, "a", "a:999"); err != nil {
			t.Fatal(err)
		}
		live, err := led.Heartbeats(ctx, "")
		if err != nil {
			t.Fatal(err)
		}
		want := []string{"b:222", liveImport, "someone@elsewhere:333"}
		slices.Sort(want)
		if !slices.Equal(live, want) {
			t.Errorf("heartbeats left %q, want %q", live, want)
		}
	})
}
