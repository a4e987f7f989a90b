package webhook

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	iofs "io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"golang.org/x/sync/errgroup"
)

// ReplayExts are the files Replay takes from a directory: a body per
// .json file, a body per line of .jsonl/.ndjson. Files named directly are
// taken whatever their name.
var ReplayExts = []string{".json", ".jsonl", ".ndjson"}

// Replayed is one replayed body: where it came from and what became of it.
type Replayed struct {
	Where  string // file, or file:line
	Result Result
}

// ReplayReport is what Replay did.
type ReplayReport struct {
	Bodies []Replayed
	Unread []string // files or folders that could not be read, with why
	Count  map[Status]int
}

// Replay stores again the raw bodies in paths (files or folders), as if
// Flabs had delivered them: no token is checked, and a body already
// stored is counted as a repeat, never stored twice. Bodies go in
// concurrently so the writer commits them in batches. A path that cannot
// be read is listed in Unread; a storage failure is returned.
func (r *Receiver) Replay(ctx context.Context, paths []string) (*ReplayReport, error) {
	rep := &ReplayReport{Count: map[Status]int{}}
	var items []replayItem
	for _, p := range paths {
		its, err := replayItems(p)
		if err != nil {
			rep.Unread = append(rep.Unread, err.Error())
		}
		items = append(items, its...)
	}
	rep.Bodies = make([]Replayed, len(items))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(32) // enough in flight for the writer to commit them in batches
	for i, it := range items {
		g.Go(func() error {
			res, err := r.Ingest(gctx, it.body, "replay")
			if err != nil {
				return fmt.Errorf("replay %s: %w", it.where, err)
			}
			rep.Bodies[i] = Replayed{Where: it.where, Result: res}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return rep, err
	}
	for _, b := range rep.Bodies {
		rep.Count[b.Result.Status]++
	}
	return rep, nil
}

// replayItem is one body to replay and where it came from.
type replayItem struct {
	where string
	body  []byte
}

// replayItems reads the bodies of one file or folder.
func replayItems(arg string) ([]replayItem, error) {
	info, err := os.Stat(arg)
	if err != nil {
		return nil, fmt.Errorf("%s: cannot read: %w", arg, errors.Unwrap(err))
	}
	if !info.IsDir() {
		return replayFile(arg)
	}
	var items []replayItem
	err = filepath.WalkDir(arg, func(path string, d iofs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if strings.HasPrefix(d.Name(), ".") && path != arg {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if d.IsDir() || !slices.Contains(ReplayExts, strings.ToLower(filepath.Ext(path))) {
			return nil
		}
		its, err := replayFile(path)
		items = append(items, its...)
		return err
	})
	if err != nil {
		return items, fmt.Errorf("%s: %w", arg, err)
	}
	return items, nil
}

// replayFile reads one file: a body, or a body per line for JSON Lines.
func replayFile(path string) ([]replayItem, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%s: cannot read: %w", path, errors.Unwrap(err))
	}
	switch strings.ToLower(filepath.Ext(path)) {
	case ".jsonl", ".ndjson":
		var items []replayItem
		for i, line := range bytes.Split(b, []byte("\n")) {
			if len(bytes.TrimSpace(line)) > 0 {
				items = append(items, replayItem{where: fmt.Sprintf("%s:%d", path, i+1), body: line})
			}
		}
		return items, nil
	}
	return []replayItem{{where: path, body: b}}, nil
}
