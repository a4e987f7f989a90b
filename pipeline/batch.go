package pipeline

import (
	"context"

	"golang.org/x/sync/errgroup"
)

// FilesAtOnce is how many files IngestFiles reads and feeds to the
// submitter at the same time: enough for partners to take turns.
const FilesAtOnce = 4

// FileOutcome is what became of one file of a batch: In is nil when the
// file could not be read at all.
type FileOutcome struct {
	Path string
	In   *Ingested
	Err  error
}

// IngestFiles ingests paths, FilesAtOnce at a time, each with the options
// opts gives for it, and returns their outcomes in the order of paths.
func (ing *Ingester) IngestFiles(ctx context.Context, paths []string, opts func(path string) ReadOptions) []FileOutcome {
	outs := make([]FileOutcome, len(paths))
	var g errgroup.Group
	g.SetLimit(FilesAtOnce)
	for i, path := range paths {
		g.Go(func() error {
			in, err := ing.Ingest(ctx, path, opts(path))
			outs[i] = FileOutcome{Path: path, In: in, Err: err}
			return nil
		})
	}
	g.Wait()
	return outs
}
