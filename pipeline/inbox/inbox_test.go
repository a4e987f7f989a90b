package inbox_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/flabsync/flabsync/internal/sheet"
	"github.com/flabsync/flabsync/pipeline/inbox"
)

// clock is a settable Now.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

func newInbox(t *testing.T) (*inbox.Inbox, string, *clock) {
	t.Helper()
	root := t.TempDir()
	c := &clock{t: time.Now()}
	in, err := inbox.New(inbox.Config{Dir: filepath.Join(root, "inbox"), ArchiveDir: filepath.Join(root, "archive"),
		ErrorDir: filepath.Join(root, "errors"), Settle: 30 * time.Second, Now: c.Now})
	if err != nil {
		t.Fatal(err)
	}
	return in, root, c
}

// drop writes a file with its mtime set to at.
func drop(t *testing.T, path, body string, at time.Time) {
	t.Helper()
	os.MkdirAll(filepath.Dir(path), 0o755)
	if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(path, at, at); err != nil {
		t.Fatal(err)
	}
}

func names(fs []inbox.File) []string {
	var out []string
	for _, f := range fs {
		out = append(out, f.Partner+"/"+f.Name)
	}
	return out
}

func TestHalfWrittenFileWaitsUntilStable(t *testing.T) {
	in, root, c := newInbox(t)
	ctx := context.Background()
	path := filepath.Join(root, "inbox", "sunrise_2026-11-25.csv")
	drop(t, path, "Patient Name,Age\n", c.Now())
	for i, step := range []struct {
		body    string // "" leaves the file alone
		advance time.Duration
		taken   bool
	}{
		{"", 0, false},                // first sight
		{"", 10 * time.Second, false}, // unchanged, but only 10 s old
		{"Patient Name,Age\nA,3\n", 40 * time.Second, false}, // still being written
		{"", 10 * time.Second, false},                        // unchanged since, but written 10 s ago
		{"", 25 * time.Second, true},                         // unchanged and 35 s old
	} {
		c.Add(step.advance)
		if step.body != "" {
			drop(t, path, step.body, c.Now())
		}
		got, err := in.Take(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if (len(got) == 1) != step.taken {
			t.Fatalf("step %d: took %v, want taken=%v", i, names(got), step.taken)
		}
		if step.taken {
			if got[0].Partner != "sunrise" || got[0].Size != int64(len("Patient Name,Age\nA,3\n")) {
				t.Errorf("claimed %+v", got[0])
			}
			if _, err := os.Stat(path); !os.IsNotExist(err) {
				t.Errorf("the claimed file is still in the inbox")
			}
		}
	}
}

func TestIgnoredRefusedAndPartners(t *testing.T) {
	in, root, c := newInbox(t)
	ctx := context.Background()
	old := c.Now().Add(-time.Hour)
	dir := filepath.Join(root, "inbox")
	for _, n := range []string{"upload.csv.part", "x.tmp", "~$book.xlsx", ".hidden.csv", "metro/.sync.csv"} {
		drop(t, filepath.Join(dir, n), "a,b\n", old)
	}
	drop(t, filepath.Join(dir, "empty_2026.csv"), "", old)
	drop(t, filepath.Join(dir, "metro", "bookings nov.xlsx"), "x", old)
	drop(t, filepath.Join(dir, "apollo-2026-11-25.csv"), "x", old)
	drop(t, filepath.Join(root, "secret.csv"), "x", old)
	if err := os.Symlink(filepath.Join(root, "secret.csv"), filepath.Join(dir, "link_2026.csv")); err != nil {
		t.Fatal(err)
	}
	// A link inside the inbox to another partner's file: refused, the
	// real file taken as its own partner's.
	drop(t, filepath.Join(dir, "sunrise", "sunrise_real.csv"), "x", old)
	os.MkdirAll(filepath.Join(dir, "apollo"), 0o755)
	if err := os.Symlink(filepath.Join(dir, "sunrise", "sunrise_real.csv"), filepath.Join(dir, "apollo", "stolen.csv")); err != nil {
		t.Fatal(err)
	}
	// A hard link to a file elsewhere on the machine.
	drop(t, filepath.Join(root, "passwd"), "root:x:0:0\n", old)
	if err := os.Link(filepath.Join(root, "passwd"), filepath.Join(dir, "hard_2026.csv")); err != nil {
		t.Fatal(err)
	}
	// Names that hide what they are.
	drop(t, filepath.Join(dir, "evil_\u202ecsv.exe"), "x", old)
	drop(t, filepath.Join(dir, "tab\tname_2026.csv"), "x", old)
	in.Take(ctx)
	got, err := in.Take(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{"metro/bookings nov.xlsx": true, "apollo/apollo-2026-11-25.csv": true, "sunrise/sunrise_real.csv": true}
	if len(got) != len(want) {
		t.Fatalf("took %v, want %v", names(got), want)
	}
	for _, n := range names(got) {
		if !want[n] {
			t.Errorf("took %s", n)
		}
	}
	day := c.Now().Format("2006-01-02")
	for name, reason := range map[string]string{"empty_2026.csv": "empty", "link_2026.csv": "a link to another file",
		"stolen.csv": "a link to another file", "hard_2026.csv": "hard link", "evil_\u202ecsv.exe": "control or invisible",
		"tab\tname_2026.csv": "control or invisible"} {
		text, err := os.ReadFile(filepath.Join(root, "errors", day, name+".error.txt"))
		if err != nil || !strings.Contains(string(text), reason) || !strings.Contains(string(text), "What to do") {
			t.Errorf("%s: reason file %q, %v", name, text, err)
		}
	}
	if _, err := os.Stat(filepath.Join(root, "secret.csv")); err != nil {
		t.Errorf("the link's target outside the inbox was touched: %v", err)
	}
	if b, _ := os.ReadFile(filepath.Join(root, "passwd")); string(b) != "root:x:0:0\n" {
		t.Errorf("the hard link's other name changed: %q", b)
	}
	notes, _ := filepath.Glob(filepath.Join(root, "errors", day, "*.error.txt"))
	for _, n := range notes {
		b, _ := os.ReadFile(n)
		if strings.Contains(string(b), "root:x") || strings.Contains(string(b), root) {
			t.Errorf("%s shows what the link points at:\n%s", filepath.Base(n), b)
		}
	}
	for _, n := range []string{"upload.csv.part", "x.tmp", "~$book.xlsx", ".hidden.csv"} {
		if _, err := os.Stat(filepath.Join(dir, n)); err != nil {
			t.Errorf("%s was moved: %v", n, err)
		}
	}
}

func TestHandleFilesAwayByOutcome(t *testing.T) {
	in, root, c := newInbox(t)
	ctx := context.Background()
	old := c.Now().Add(-time.Hour)
	drop(t, filepath.Join(root, "inbox", "good_1.csv"), "x", old)
	drop(t, filepath.Join(root, "inbox", "bad_1.xls"), "x", old)
	drop(t, filepath.Join(root, "inbox", "stop_1.csv"), "x", old)
	n, err := in.Drain(ctx, func(ctx context.Context, f inbox.File) error {
		switch f.Partner {
		case "bad":
			return fmt.Errorf("read %s: %w: old binary Excel (.xls) is not read; save it as .xlsx", f.Name, sheet.ErrRefused)
		case "stop":
			return fmt.Errorf("ingest: %w", context.Canceled)
		}
		return nil
	}, time.Millisecond)
	if err != nil || n != 3 {
		t.Fatalf("Drain = %d, %v", n, err)
	}
	day := c.Now().Format("2006-01-02")
	if _, err := os.Stat(filepath.Join(root, "archive", day, "good_1.csv")); err != nil {
		t.Errorf("good file not archived: %v", err)
	}
	text, err := os.ReadFile(filepath.Join(root, "errors", day, "bad_1.xls.error.txt"))
	if err != nil || !strings.Contains(string(text), "save it as .xlsx") || !strings.Contains(string(text), "drop the fixed file") {
		t.Errorf("bad file's reason: %q, %v", text, err)
	}
	if _, err := os.Stat(filepath.Join(root, "inbox", "stop_1.csv")); err != nil {
		t.Errorf("a file interrupted by a stop is not back in the inbox: %v", err)
	}
	// Sheets and notes hold patient data: owner-only once flabsync has
	// them, whatever mode they were uploaded with (0644 here).
	for _, p := range []string{filepath.Join("archive", day, "good_1.csv"), filepath.Join("errors", day, "bad_1.xls"),
		filepath.Join("errors", day, "bad_1.xls.error.txt")} {
		fi, err := os.Stat(filepath.Join(root, p))
		if err != nil {
			t.Errorf("%s: %v", p, err)
		} else if fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: %v, want -rw-------", p, fi.Mode().Perm())
		}
	}
}

func TestTwoProcessesNeverTakeOneFile(t *testing.T) {
	root := t.TempDir()
	c := &clock{t: time.Now()}
	cfg := inbox.Config{Dir: filepath.Join(root, "inbox"), ArchiveDir: filepath.Join(root, "archive"),
		ErrorDir: filepath.Join(root, "errors"), Settle: time.Second, Now: c.Now}
	a, err := inbox.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := inbox.New(cfg)
	old := c.Now().Add(-time.Hour)
	for i := range 200 {
		drop(t, filepath.Join(cfg.Dir, fmt.Sprintf("p%d_file%03d.csv", i%5, i)), "x", old)
	}
	var mu sync.Mutex
	taken := map[string]int{}
	var wg sync.WaitGroup
	for _, in := range []*inbox.Inbox{a, b} {
		wg.Go(func() {
			for range 4 {
				fs, _ := in.Take(context.Background())
				mu.Lock()
				for _, f := range fs {
					taken[f.Rel]++
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if len(taken) != 200 {
		t.Errorf("%d files taken, want 200", len(taken))
	}
	for rel, n := range taken {
		if n != 1 {
			t.Errorf("%s taken %d times", rel, n)
		}
	}
}

func TestRecoverPutsClaimedFilesBack(t *testing.T) {
	in, root, c := newInbox(t)
	old := c.Now().Add(-time.Hour)
	drop(t, filepath.Join(root, "inbox", "sunrise", "a.csv"), "x", old)
	in.Take(context.Background())
	got, _ := in.Take(context.Background())
	if len(got) != 1 {
		t.Fatalf("took %v", names(got))
	}
	n, err := in.Recover()
	if err != nil || n != 1 {
		t.Fatalf("Recover = %d, %v", n, err)
	}
	if _, err := os.Stat(filepath.Join(root, "inbox", "sunrise", "a.csv")); err != nil {
		t.Errorf("not back: %v", err)
	}
	if errors.Is(err, os.ErrNotExist) {
		t.Fatal("unreachable")
	}
}

// TestDrainHandlesWhatItsFirstLookClaims: in serve, the watcher and the
// import job look at the same inbox. A file the watcher has seen once is
// settled by the import job's first look, which claims it: the job must
// handle it, not leave it in the processing folder (CI once found every
// file of a two-process run stuck there, the watcher idle).
func TestDrainHandlesWhatItsFirstLookClaims(t *testing.T) {
	in, root, c := newInbox(t)
	ctx := context.Background()
	path := filepath.Join(root, "inbox", "sunrise_2026-11-25.csv")
	drop(t, path, "Patient Name,Age\nA,3\n", c.Now().Add(-time.Minute))
	if got, err := in.Take(ctx); err != nil || len(got) != 0 { // the watcher's look: first sight
		t.Fatalf("first sight took %v (%v)", names(got), err)
	}
	var handled []string
	n, err := in.Drain(ctx, func(_ context.Context, f inbox.File) error {
		handled = append(handled, f.Name)
		return nil
	}, time.Millisecond)
	if err != nil || n != 1 || len(handled) != 1 {
		t.Fatalf("drain handled %d %v (%v); want the file its first look claimed", n, handled, err)
	}
	if left, _ := filepath.Glob(filepath.Join(in.Config().ProcessingDir, "*", "*")); len(left) != 0 {
		t.Errorf("left in the processing folder: %v", left)
	}
	if archived, _ := filepath.Glob(filepath.Join(root, "archive", "*", "*.csv")); len(archived) != 1 {
		t.Errorf("archived: %v", archived)
	}
}

// TestRefusedLinkChangesNothingBehindIt: a partner drops a link to the
// service's data folder. It is refused (moved to errors/), and neither
// the folder nor a file behind a link keeps anything but its own mode:
// no file operation follows a link (chmod did, making the folder 0600).
func TestRefusedLinkChangesNothingBehindIt(t *testing.T) {
	in, root, c := newInbox(t)
	ctx := context.Background()
	data := filepath.Join(root, "data")
	os.MkdirAll(data, 0o750)
	os.Chmod(data, 0o750)
	drop(t, filepath.Join(data, "flabsync.db"), "db", c.Now().Add(-time.Hour))
	os.Chmod(filepath.Join(data, "flabsync.db"), 0o644)
	dir := filepath.Join(root, "inbox")
	os.Symlink(data, filepath.Join(dir, "data_2026.csv"))
	os.Symlink(filepath.Join(data, "flabsync.db"), filepath.Join(dir, "db_2026.csv"))
	for range 2 {
		if _, err := in.Take(ctx); err != nil {
			t.Fatal(err)
		}
	}
	day := c.Now().Format("2006-01-02")
	for _, n := range []string{"data_2026.csv", "db_2026.csv"} {
		fi, err := os.Lstat(filepath.Join(root, "errors", day, n))
		if err != nil || fi.Mode()&os.ModeSymlink == 0 {
			t.Errorf("%s not refused as a link: %v", n, err)
		}
	}
	if fi, _ := os.Stat(data); fi.Mode().Perm() != 0o750 {
		t.Errorf("the folder behind the link is now %v, want 0750", fi.Mode().Perm())
	}
	if fi, _ := os.Stat(filepath.Join(data, "flabsync.db")); fi.Mode().Perm() != 0o644 {
		t.Errorf("the file behind the link is now %v, want 0644", fi.Mode().Perm())
	}
}

// TestWatchHandlesFilesSideBySide: a big file being handled does not
// hold the others (they were handled one after another), and no more
// than Concurrency files are in hand at once.
func TestWatchHandlesFilesSideBySide(t *testing.T) {
	root := t.TempDir()
	in, err := inbox.New(inbox.Config{Dir: filepath.Join(root, "inbox"), ArchiveDir: filepath.Join(root, "archive"),
		ErrorDir: filepath.Join(root, "errors"), Settle: 100 * time.Millisecond, Concurrency: 2})
	if err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-time.Hour)
	drop(t, filepath.Join(root, "inbox", "big_1.csv"), "x", old.Add(-time.Minute)) // the oldest: taken first
	for i := range 4 {
		drop(t, filepath.Join(root, "inbox", fmt.Sprintf("small%d_1.csv", i)), "x", old)
	}
	release := make(chan struct{})
	smallDone := make(chan string, 4)
	var mu sync.Mutex
	inHand, most := 0, 0
	ctx, cancel := context.WithCancel(context.Background())
	watched := make(chan error, 1)
	go func() {
		watched <- in.Watch(ctx, func(ctx context.Context, f inbox.File) error {
			mu.Lock()
			inHand++
			most = max(most, inHand)
			mu.Unlock()
			defer func() { mu.Lock(); inHand--; mu.Unlock() }()
			if f.Partner == "big" {
				<-release
				return nil
			}
			smallDone <- f.Name
			return nil
		})
	}()
	for range 4 {
		select {
		case <-smallDone:
		case <-time.After(10 * time.Second):
			t.Fatal("the small files wait behind the big one")
		}
	}
	close(release)
	deadline := time.Now().Add(10 * time.Second)
	for {
		if m, _ := filepath.Glob(filepath.Join(root, "archive", "*", "*.csv")); len(m) == 5 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("not every file archived")
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	if err := <-watched; err != nil {
		t.Fatal(err)
	}
	if most > 2 {
		t.Errorf("%d files in hand at once, Concurrency is 2", most)
	}
}

// TestTakeClaimsOnlyWhatItHasRoomFor: a process with two free slots
// claims two files; the rest stay in the folder for another process.
func TestTakeClaimsOnlyWhatItHasRoomFor(t *testing.T) {
	in, root, c := newInbox(t)
	old := c.Now().Add(-time.Hour)
	for i := range 5 {
		drop(t, filepath.Join(root, "inbox", fmt.Sprintf("clinic%d_1.csv", i)), "x", old.Add(time.Duration(i)*time.Second))
	}
	in.TakeUpTo(context.Background(), 2)
	got, err := in.TakeUpTo(context.Background(), 2)
	if err != nil || len(got) != 2 || got[0].Partner != "clinic0" || got[1].Partner != "clinic1" {
		t.Fatalf("took %v, %v; want the two oldest", names(got), err)
	}
	left, _ := filepath.Glob(filepath.Join(root, "inbox", "*.csv"))
	if len(left) != 3 {
		t.Errorf("%d files left for others, want 3", len(left))
	}
	if more, _ := in.TakeUpTo(context.Background(), -1); len(more) != 3 {
		t.Errorf("the next look took %v, want the 3 left (already settled)", names(more))
	}
}

// TestRecoverPeerPutsAGoneProcessFilesBack: files another process left
// claimed in its processing folder go back into the inbox; this
// process's own folder is not a peer's.
func TestRecoverPeerPutsAGoneProcessFilesBack(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "inbox")
	peers := filepath.Join(dir, ".processing")
	in, err := inbox.New(inbox.Config{Dir: dir, ArchiveDir: filepath.Join(root, "archive"), ErrorDir: filepath.Join(root, "errors"),
		ProcessingDir: filepath.Join(peers, "b"), Peers: peers})
	if err != nil {
		t.Fatal(err)
	}
	drop(t, filepath.Join(peers, "a", "sunrise", "sunrise_1.csv"), "x", time.Now())
	drop(t, filepath.Join(peers, "b", "apollo", "apollo_1.csv"), "x", time.Now())
	os.MkdirAll(filepath.Join(peers, "c"), 0o755) // a process that left nothing
	names, err := in.PeerFolders()
	if err != nil || len(names) != 1 || names[0] != "a" {
		t.Fatalf("peer folders %v, %v; want [a]", names, err)
	}
	if n, err := in.RecoverPeer("a"); err != nil || n != 1 {
		t.Fatalf("RecoverPeer = %d, %v", n, err)
	}
	if _, err := os.Stat(filepath.Join(dir, "sunrise", "sunrise_1.csv")); err != nil {
		t.Errorf("not back in the inbox: %v", err)
	}
	if _, err := in.RecoverPeer(".."); err == nil {
		t.Error("RecoverPeer(..) went outside the processing folders")
	}
}
