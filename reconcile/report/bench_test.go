package report_test

import (
	"bufio"
	"fmt"
	"iter"
	"os"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/flabsync/flabsync/reconcile"
	"github.com/flabsync/flabsync/reconcile/report"
)

// generated yields n exceptions spread over the first ncat categories,
// sorted by category, made up as they are asked for: nothing is held.
func generated(n, ncat int) iter.Seq2[reconcile.Exception, error] {
	cats := slices.Clone(reconcile.Categories)
	slices.Sort(cats)
	cats = cats[:ncat]
	partners := []string{"sunrise", "metro", "apollo", "cityclinic", "greenleaf", "hillside"}
	return func(yield func(reconcile.Exception, error) bool) {
		for i := range n {
			cat := cats[i*len(cats)/n]
			first := runAt.Add(-time.Duration(i%(96*60)) * time.Minute)
			e := reconcile.Exception{
				ID:              "EX-" + strconv.Itoa(1000000+i),
				Category:        cat,
				Status:          []reconcile.Status{reconcile.StatusNew, reconcile.StatusOpen, reconcile.StatusOpen}[i%3],
				Partner:         partners[i%len(partners)],
				IntegratorID:    partners[i%len(partners)] + "-" + strconv.FormatInt(int64(i)*7919, 16),
				File:            partners[i%len(partners)] + "_2026-11-24.csv",
				Row:             i%5000 + 2,
				AgeBucket:       reconcile.AgeBuckets[i%4],
				FirstSeen:       first,
				LastSeen:        runAt,
				Detail:          "no bill.created within 6h of submission; Flabs answered 200 with preBookingID 64f0" + strconv.Itoa(i),
				SuggestedAction: "check in Flabs whether the booking exists; resend if not",
			}
			if !yield(e, nil) {
				return
			}
		}
	}
}

// peakRSS is the process's peak resident set (VmHWM) in MiB.
func peakRSS(tb testing.TB) float64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		tb.Skip("no /proc/self/status")
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, _ := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")))
			return float64(kb) / 1024
		}
	}
	tb.Skip("no VmHWM")
	return 0
}

// resetPeakRSS starts a new peak (Linux: writing 5 to clear_refs) after
// handing the memory of earlier runs back to the OS.
func resetPeakRSS() {
	debug.FreeOSMemory()
	_ = os.WriteFile("/proc/self/clear_refs", []byte("5"), 0)
}

// BenchmarkWriteWorkbook streams n exceptions from an iterator into a
// workbook. Memory must not grow with n: the peak RSS is held under
// maxRSS whatever n. (What it does grow with is the number of large
// sheets: excelize keeps each stream writer's ~32 MB buffer until the
// file is saved.)
//
//	go test -run '^$' -bench WriteWorkbook -benchtime 1x ./reconcile/report
func BenchmarkWriteWorkbook(b *testing.B) {
	const maxRSS = 512 // MiB
	for _, c := range []struct{ n, cats int }{{100_000, 10}, {1_000_000, 10}, {1_000_000, 1}, {2_000_000, 10}} {
		n := c.n
		b.Run(fmt.Sprintf("n=%d/categories=%d", c.n, c.cats), func(b *testing.B) {
			dir := b.TempDir()
			path := filepath.Join(dir, "exceptions.xlsx")
			var rss float64
			for b.Loop() {
				resetPeakRSS()
				start := time.Now()
				info, err := report.WriteWorkbook(path, &report.Data{At: runAt, Location: ist, Exceptions: generated(n, c.cats), Files: sampleData().Files})
				if err != nil {
					b.Fatal(err)
				}
				b.ReportMetric(time.Since(start).Seconds(), "s")
				if info.Exceptions != n {
					b.Fatalf("%d exceptions written, want %d", info.Exceptions, n)
				}
				rss = max(rss, peakRSS(b))
			}
			st, err := os.Stat(path)
			if err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(rss, "MiB-peak-RSS")
			b.ReportMetric(float64(st.Size())/(1<<20), "MiB-file")
			b.ReportMetric(float64(n)/b.Elapsed().Seconds()*float64(b.N), "exceptions/s")
			if rss > maxRSS {
				b.Errorf("peak RSS %.0f MiB, want under %d: the workbook is not streaming", rss, maxRSS)
			}
		})
	}
}
