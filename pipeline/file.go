package pipeline

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/flabsync/flabsync/internal/config"
	"github.com/flabsync/flabsync/internal/flabs"
	"github.com/flabsync/flabsync/internal/sheet"
	"github.com/flabsync/flabsync/mapping"
)

// Mapper looks test and package names up (mapping.Index does).
type Mapper interface {
	Lookup(partner string, kind mapping.Kind, name string) mapping.Match
}

// ReadOptions is what reading one file needs besides the file.
type ReadOptions struct {
	Partner    string
	LeadSource string
	LabID      string
	Now        time.Time // booking date for rows without one
	Sheet      sheet.Options
	Mapper     Mapper
	// Resumes, for Ingest, is the ledger record of an earlier reading of
	// the same file that its reader left half done and this process took
	// over (ledger.TakeFile): this reading replaces it. 0: none.
	Resumes int64
}

// Accepted is a valid booking and the exact request that would be sent.
type Accepted struct {
	Booking *Booking
	Request flabs.BillingRequest
	Matches []mapping.Match // one per test and package, in request order
}

// FileResult is everything one file came to. Its rows are conserved:
// RowsIn = rows of Accepted + rows of Rejected + Skipped.
type FileResult struct {
	File     string
	Partner  string
	Summary  sheet.Summary
	Accepted []Accepted
	Rejected []RowError
	Skipped  []sheet.Skip // rows after the header passed over on purpose
}

// RowsIn counts the data rows below the header (blank rows aside).
func (r *FileResult) RowsIn() int { return r.Summary.Records + len(r.Skipped) }

// Conserved reports whether every row is accounted for exactly once.
func (r *FileResult) Conserved() bool {
	n := len(r.Skipped)
	for _, a := range r.Accepted {
		n += len(a.Booking.Rows)
	}
	for _, e := range r.Rejected {
		n += len(e.Rows)
	}
	return n == r.RowsIn()
}

// PartnerOf is the one rule that names a file's partner from its name,
// for every door a file comes in by (the inbox, `flabsync import`),
// when neither a partner folder, --partner nor a partners.<name>.pattern
// says (PartnerFor applies those patterns first):
//
//   - the name up to its first "_": sunrise_2026-11-24.csv → sunrise,
//     care-city_0612.csv → care-city (a "-" belongs to the name);
//   - a name without "_", up to the first "-" that starts a number (a
//     date or a serial): apollo-2026-11-25.csv → apollo,
//     care-city-0612.csv → care-city;
//   - otherwise the whole name without its extension: metro.csv → metro.
//
// Lower-cased and trimmed. The result may still be an invalid partner
// name (CheckPartner says so).
func PartnerOf(path string) string {
	base := filepath.Base(path)
	base = strings.TrimSuffix(base, filepath.Ext(base))
	p, _, found := strings.Cut(base, "_")
	if !found {
		for i := 1; i+1 < len(p); i++ {
			if p[i] == '-' && p[i+1] >= '0' && p[i+1] <= '9' {
				p = p[:i]
				break
			}
		}
	}
	return strings.ToLower(strings.TrimSpace(p))
}

// PartnerFor names the partner of a file that came in without one (not
// in a partner's folder, no --partner): the first partner, in name
// order, whose partners.<name>.pattern matches the file's name, else
// PartnerOf. The inbox and `flabsync import` both ask it, so a file is
// the same partner's whichever door it came in by.
func PartnerFor(cfg *config.Config, path string) string {
	name := filepath.Base(path)
	if cfg != nil {
		for _, p := range cfg.PartnerNames() {
			if pat := cfg.Partners[p].Pattern; pat != "" {
				if ok, _ := filepath.Match(pat, name); ok {
					return p
				}
			}
		}
	}
	return PartnerOf(path)
}

// ReadFile reads, validates and maps one sheet without sending anything,
// holding the whole result in memory (for dry runs and tests; Scan
// streams). A file that cannot be read at all returns an error
// (ErrRefused or ErrNoHeader from package sheet for files that need a
// person).
func ReadFile(ctx context.Context, path string, opts ReadOptions) (*FileResult, error) {
	res := &FileResult{}
	scan, err := Scan(ctx, path, opts, Sink{
		Accepted: func(a Accepted) error { res.Accepted = append(res.Accepted, a); return nil },
		Rejected: func(e RowError) error { res.Rejected = append(res.Rejected, e); return nil },
	})
	res.File, res.Partner, res.Summary, res.Skipped = scan.File, scan.Partner, scan.Summary, scan.Skipped
	return res, err
}

// Sink receives a file's outcomes as they are decided.
type Sink struct {
	Accepted func(Accepted) error
	Rejected func(RowError) error
}

// Scan streams one sheet through reading, validation and mapping, handing
// each outcome to sink as soon as it is decided, in row order (a grouped
// booking when its group ends). Memory stays flat but for the within-file
// duplicate checks (a few bytes per booking). The returned result has no
// Accepted or Rejected lists: those went to sink.
func Scan(ctx context.Context, path string, opts ReadOptions, sink Sink) (*FileResult, error) {
	if opts.Partner == "" {
		opts.Partner = PartnerOf(path)
	}
	if err := CheckPartner(opts.Partner); err != nil {
		return &FileResult{File: filepath.Base(path), Partner: opts.Partner}, fmt.Errorf("read %s: %w", filepath.Base(path), err)
	}
	if opts.Now.IsZero() {
		opts.Now = time.Now()
	}
	res := &FileResult{File: filepath.Base(path), Partner: opts.Partner}
	var norm *Normalizer
	emit := func(rs []Result) error {
		for _, r := range rs {
			if r.Err != nil {
				if sink.Rejected != nil {
					if err := sink.Rejected(*r.Err); err != nil {
						return err
					}
				}
				continue
			}
			if sink.Accepted != nil {
				if err := sink.Accepted(Accept(r.Booking, opts)); err != nil {
					return err
				}
			}
		}
		return nil
	}

	// Two stages on two goroutines: reading and parsing each row (which
	// depends on the row alone) runs ahead of grouping, duplicate checks,
	// mapping and the sink (which depend on order).
	type batch struct {
		sheet string
		rows  []Prepared
	}
	const batchSize = 512
	batches := make(chan batch, 8)
	free := make(chan []Prepared, 10) // batch buffers handed back for reuse
	buffer := func() []Prepared {
		select {
		case b := <-free:
			return b[:0]
		default:
			return make([]Prepared, 0, batchSize)
		}
	}
	var sum sheet.Summary
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		defer close(batches)
		cur := batch{rows: buffer()}
		send := func() error {
			select {
			case batches <- cur:
				cur = batch{sheet: cur.sheet, rows: buffer()}
				return nil
			case <-gctx.Done():
				return gctx.Err()
			}
		}
		var err error
		sum, err = sheet.Read(gctx, path, opts.Sheet, func(rec *sheet.Record) error {
			cur.sheet = rec.Sheet
			cur.rows = append(cur.rows, Prepare(InputOf(rec), opts.Now))
			if len(cur.rows) == batchSize {
				return send()
			}
			return nil
		})
		if err == nil && len(cur.rows) > 0 {
			err = send()
		}
		return err
	})
	g.Go(func() error {
		for b := range batches {
			if norm == nil {
				norm = NewNormalizer(opts.Partner, res.File, b.sheet, opts.Now)
			}
			for i := range b.rows {
				if err := emit(norm.AddPrepared(&b.rows[i])); err != nil {
					return err
				}
			}
			clear(b.rows) // drop references before reuse
			select {
			case free <- b.rows:
			default:
			}
		}
		return nil
	})
	err := g.Wait()
	res.Summary = sum
	if err != nil {
		return res, err
	}
	if norm != nil {
		if err := emit(norm.Flush()); err != nil {
			return res, err
		}
	}
	for _, s := range sum.Skipped {
		if s.Row > sum.HeaderRow {
			res.Skipped = append(res.Skipped, s)
		}
	}
	return res, nil
}

// InputOf turns a sheet record into the normaliser's input.
func InputOf(r *sheet.Record) Input {
	return Input{
		Row: r.Row, Name: r.Get(sheet.Name), FirstName: r.Get(sheet.FirstName), LastName: r.Get(sheet.LastName),
		Age: r.Get(sheet.Age), AgeUnit: r.Get(sheet.AgeUnit), DOB: r.Get(sheet.DOB), Gender: r.Get(sheet.Gender),
		Tests: r.Get(sheet.Tests), Packages: r.Get(sheet.Packages), Barcode: r.Get(sheet.Barcode),
		Ref: r.Get(sheet.Ref), BookingDate: r.Get(sheet.BookingDate), Problems: r.Problems,
	}
}

// Accept maps a booking's tests and packages and builds its request. Names
// that do not map exactly are sent unmapped, as the partner wrote them.
func Accept(b *Booking, opts ReadOptions) Accepted {
	req := flabs.BillingRequest{
		LabID: opts.LabID,
		PatientDetails: flabs.PatientDetails{
			FirstName: b.FirstName, LastName: b.LastName, Gender: b.Gender,
			Age: b.Age.Value, AgeType: b.Age.Unit,
		},
		IntegratorID: b.IntegratorID,
		LeadSource:   opts.LeadSource,
		BarCode:      b.Barcode,
	}
	a := Accepted{Booking: b, Matches: make([]mapping.Match, 0, len(b.Tests)+len(b.Packages))}
	add := func(kind mapping.Kind, name string) {
		m := mapping.Match{Name: name, Kind: kind, How: mapping.MatchNone}
		if opts.Mapper != nil {
			m = opts.Mapper.Lookup(b.Partner, kind, name)
		}
		a.Matches = append(a.Matches, m)
		switch {
		case !m.Mapped() && kind == mapping.KindPackage:
			req.UnmappedPackages = appendUnique(req.UnmappedPackages, name)
		case !m.Mapped():
			req.UnmappedTests = appendUnique(req.UnmappedTests, name)
		case m.Kind == mapping.KindPackage:
			if !containsPkg(req.MappedPackages, m.Target) {
				req.MappedPackages = append(req.MappedPackages, flabs.MappedPackage{ID: m.Target})
			}
		default:
			t := flabs.MappedTest{ID: m.Target}
			if m.TargetKey == mapping.KeyFlabsID {
				t = flabs.MappedTest{FlabsID: m.Target}
			}
			if !containsTest(req.MappedTests, t) {
				req.MappedTests = append(req.MappedTests, t)
			}
		}
	}
	for _, t := range b.Tests {
		add(mapping.KindTest, t)
	}
	for _, p := range b.Packages {
		add(mapping.KindPackage, p)
	}
	a.Request = req
	return a
}

func appendUnique(s []string, v string) []string {
	for _, x := range s {
		if strings.EqualFold(x, v) {
			return s
		}
	}
	return append(s, v)
}

func containsPkg(s []flabs.MappedPackage, id string) bool {
	for _, p := range s {
		if p.ID == id {
			return true
		}
	}
	return false
}

func containsTest(s []flabs.MappedTest, t flabs.MappedTest) bool {
	for _, x := range s {
		if x == t {
			return true
		}
	}
	return false
}

// String is a one-line account of the file for logs and the CLI.
func (r *FileResult) String() string {
	return fmt.Sprintf("%s: %d rows, %d bookings accepted, %d rejected, %d skipped",
		r.File, r.RowsIn(), len(r.Accepted), len(r.Rejected), len(r.Skipped))
}

// FilesOf is the files args name, for `flabsync import`: a folder stands
// for the files directly in it (not hidden ones, not its subfolders), in
// name order. A path that does not exist is kept, to be reported with
// the others; a folder that cannot be read or holds no file is an error.
func FilesOf(args []string) ([]string, error) {
	var out []string
	for _, a := range args {
		fi, err := os.Stat(a)
		if err != nil || !fi.IsDir() {
			out = append(out, a)
			continue
		}
		entries, err := os.ReadDir(a)
		if err != nil {
			return nil, err
		}
		n := len(out)
		for _, e := range entries {
			if e.Type().IsRegular() && !strings.HasPrefix(e.Name(), ".") {
				out = append(out, filepath.Join(a, e.Name()))
			}
		}
		if len(out) == n {
			return nil, fmt.Errorf("folder %s holds no file", a)
		}
	}
	return out, nil
}
