package report

import (
	"bufio"
	"cmp"
	"encoding/csv"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/flabsync/flabsync/internal/csvsafe"
	"github.com/flabsync/flabsync/reconcile"
)

// The columns WriteRejects adds after the partner's own.
const (
	RejectReasonColumn = "Reject reason"
	RejectFileColumn   = "Source file"
	RejectRowColumn    = "Source row"
)

// WriteRejects writes each partner's rejected rows to dir as CSV, one
// file per partner and date (Data.At): the partner's own header and
// cells, then the reason, the source file and its row, so that the
// partner can fix the rows and send them again. Rows from files with the
// same header go in one file; a different header starts another file
// (…_2.csv). Every cell is formula-escaped (csvsafe.Escape). Files are UTF-8
// with a BOM (Excel reads it right), written beside and renamed into
// place. It returns the paths written, sorted.
func WriteRejects(dir string, d *Data) ([]string, error) {
	groups := groupRejects(d.Rejects)
	var paths []string
	seq := map[string]int{}
	for _, g := range groups {
		base := fileSafe(g.partner)
		seq[base]++
		name := rejectFileName(g.partner, d.At.In(d.location()))
		if n := seq[base]; n > 1 {
			name = strings.TrimSuffix(name, ".csv") + fmt.Sprintf("_%d.csv", n)
		}
		path := filepath.Join(dir, name)
		if err := writeRejectFile(path, g); err != nil {
			return paths, fmt.Errorf("reject file %s: %w", name, err)
		}
		paths = append(paths, path)
	}
	slices.Sort(paths)
	return paths, nil
}

// rejectGroup is what goes into one CSV: files of one partner that share
// a header.
type rejectGroup struct {
	partner string
	header  []string
	files   []reconcile.RejectFile
}

func groupRejects(rs []reconcile.RejectFile) []*rejectGroup {
	var groups []*rejectGroup
	for _, r := range rs {
		if len(r.Rows) == 0 {
			continue
		}
		i := slices.IndexFunc(groups, func(g *rejectGroup) bool {
			return g.partner == r.Partner && slices.Equal(g.header, r.Header)
		})
		if i < 0 {
			groups = append(groups, &rejectGroup{partner: r.Partner, header: r.Header})
			i = len(groups) - 1
		}
		groups[i].files = append(groups[i].files, r)
	}
	slices.SortStableFunc(groups, func(a, b *rejectGroup) int { return cmp.Compare(a.partner, b.partner) })
	return groups
}

func writeRejectFile(path string, g *rejectGroup) (err error) {
	width := len(g.header)
	for _, f := range g.files {
		for _, r := range f.Rows {
			width = max(width, len(r.Cells))
		}
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	defer tmp.Close()
	bw := bufio.NewWriter(tmp)
	bw.WriteString("\uFEFF")
	cw := csv.NewWriter(bw)
	cw.UseCRLF = true
	rec := make([]string, width+3)
	fill := func(cells []string) {
		for i := range width {
			rec[i] = ""
			if i < len(cells) {
				rec[i] = csvsafe.Escape(cells[i])
			}
		}
	}
	fill(g.header)
	rec[width], rec[width+1], rec[width+2] = RejectReasonColumn, RejectFileColumn, RejectRowColumn
	if err := cw.Write(rec); err != nil {
		return err
	}
	for _, f := range g.files {
		for _, r := range f.Rows {
			fill(r.Cells)
			rec[width], rec[width+1] = csvsafe.Escape(r.Reason), csvsafe.Escape(f.File)
			rec[width+2] = ""
			if r.Row > 0 {
				rec[width+2] = strconv.Itoa(r.Row)
			}
			if err := cw.Write(rec); err != nil {
				return err
			}
		}
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return err
	}
	if err := bw.Flush(); err != nil {
		return err
	}
	if err := tmp.Sync(); err != nil {
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// fileSafe makes a partner name usable in a file name.
func fileSafe(s string) string {
	s = strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '.':
			return r
		}
		return '_'
	}, s)
	s = strings.Trim(s, ".")
	if s == "" {
		return "unknown"
	}
	return s
}

// rejectFileName is the name of partner's (first) reject file of the day
// of at.
func rejectFileName(partner string, at time.Time) string {
	return fmt.Sprintf("%s_rejects_%s.csv", fileSafe(partner), at.Format("2006-01-02"))
}
