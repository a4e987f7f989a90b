// Package inbox owns the watched directory partners' files drop into. A
// file is taken only once it has stopped changing (same size and mtime
// on two looks, and older than the settle time), claimed by an atomic
// rename into a processing folder (so two processes sharing the folder
// never both take it), handed to a handler, and then moved to
// archive/<date>/ or, with a plain-words .error.txt beside it, to
// errors/<date>/. Up to Concurrency files are handled side by side, and
// a look claims only as many as there are free slots, so processes
// sharing the folder share its files. Temporary names are ignored;
// symlinks and empty files are refused, and no file operation follows a
// link.
package inbox

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/flabsync/flabsync/internal/logging"
	"github.com/flabsync/flabsync/pipeline"
)

// Config says where files are and how long they must rest.
type Config struct {
	Dir           string // the inbox; partners may have subfolders
	ArchiveDir    string // done files go to ArchiveDir/<date>/
	ErrorDir      string // refused files go to ErrorDir/<date>/, with a .error.txt
	ProcessingDir string // claimed files; default Dir/.processing
	// Peers, when set, is the folder holding the processing folder of
	// every process sharing the inbox, each named after its process
	// (ProcessingDir is one of them): PeerFolders and RecoverPeer look
	// there for files a process that is gone left claimed.
	Peers     string
	Settle    time.Duration // a file must be this old and unchanged; default 30s
	ScanEvery time.Duration // the safety-net scan; default 30s
	// Concurrency is how many files are handled at once (Watch, Drain
	// and Go share these slots); default DefaultConcurrency. A look
	// claims only as many files as there are free slots, so a big file
	// never holds the claim of others and processes sharing the folder
	// share its files.
	Concurrency int
	// Partner names the partner of a file directly in Dir (files in a
	// subfolder belong to the subfolder's partner), e.g. pipeline.
	// PartnerFor with the config's patterns. Nil or "": pipeline.PartnerOf,
	// the rule `flabsync import` uses too.
	Partner func(name string) string
	Now     func() time.Time
	Logger  *slog.Logger
	// Filed, when set, hears where each handled file went (archive or
	// errors), e.g. to record it in the ledger.
	Filed func(f File, dest string)
	// Refused, when set, hears of each file moved to errors/ and why: a
	// refusal before it was claimed (empty, a link, a bad name) as well
	// as a handler's error. The reason never holds the file's contents.
	Refused func(f File, dest, reason string)
}

// File is a claimed file.
type File struct {
	Path    string // where it is now, in the processing folder
	Name    string // its name as dropped
	Rel     string // its path under the inbox, as dropped
	Partner string
	Size    int64
	ModTime time.Time
}

// DefaultConcurrency is Config.Concurrency's default.
const DefaultConcurrency = 4

// Inbox finds, claims and files away partners' files.
type Inbox struct {
	cfg Config
	log *slog.Logger

	mu   sync.Mutex
	seen map[string]look // rel path → the last look at it

	slots chan struct{}  // one per file being handled
	busy  sync.WaitGroup // every handling started by Watch, Drain or Go
	freed chan struct{}  // a slot came free: the watcher looks again
}

type look struct {
	size  int64
	mtime time.Time
}

// New returns an Inbox; it creates the folders it needs.
func New(cfg Config) (*Inbox, error) {
	if cfg.ProcessingDir == "" {
		cfg.ProcessingDir = filepath.Join(cfg.Dir, ".processing")
	}
	if cfg.Settle <= 0 {
		cfg.Settle = 30 * time.Second
	}
	if cfg.ScanEvery <= 0 {
		cfg.ScanEvery = 30 * time.Second
	}
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = DefaultConcurrency
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	for _, d := range []string{cfg.Dir, cfg.ArchiveDir, cfg.ErrorDir, cfg.ProcessingDir} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, fmt.Errorf("inbox: %w", err)
		}
	}
	return &Inbox{cfg: cfg, log: cfg.Logger, seen: map[string]look{},
		slots: make(chan struct{}, cfg.Concurrency), freed: make(chan struct{}, 1)}, nil
}

// Config is the inbox's configuration with defaults filled in.
func (in *Inbox) Config() Config { return in.cfg }

// ignored reports names never taken: temporary, partial and hidden files.
func ignored(name string) bool {
	lower := strings.ToLower(name)
	switch {
	case strings.HasPrefix(name, "."), strings.HasPrefix(name, "~$"), strings.HasPrefix(name, "~"):
		return true
	case strings.HasSuffix(lower, ".part"), strings.HasSuffix(lower, ".tmp"), strings.HasSuffix(lower, ".crdownload"),
		strings.HasSuffix(lower, ".partial"), strings.HasSuffix(lower, ".error.txt"), strings.HasSuffix(lower, "~"):
		return true
	}
	return false
}

// Take looks at the inbox once and claims every file that has settled:
// unchanged since the previous look and older than Settle. Files that
// must be refused (empty, a symlink leading out of the inbox) go straight
// to errors/. A file another process claimed first is skipped.
func (in *Inbox) Take(ctx context.Context) ([]File, error) { return in.TakeUpTo(ctx, -1) }

// TakeUpTo is Take claiming at most limit files (all when limit < 0),
// the longest settled first; the others stay in the inbox, settled, for
// the next look (of this process or another).
func (in *Inbox) TakeUpTo(ctx context.Context, limit int) ([]File, error) {
	now := in.cfg.Now()
	type candidate struct {
		path, rel string
		l         look
	}
	var settled []candidate
	var current = map[string]bool{}
	err := filepath.WalkDir(in.cfg.Dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			if path == in.cfg.Dir {
				return err
			}
			return nil // vanished while we looked
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		rel, _ := filepath.Rel(in.cfg.Dir, path)
		if d.IsDir() && path != in.cfg.Dir && unsafeName(d.Name()) {
			in.log.Warn("inbox: a folder name with control characters is not read; rename it", logging.KeyFile, rel)
			return filepath.SkipDir
		}
		if d.IsDir() {
			if path != in.cfg.Dir && (ignored(d.Name()) || in.special(path) || strings.Count(rel, string(filepath.Separator)) >= 1) {
				return filepath.SkipDir // hidden, processing/archive/errors, or deeper than inbox/<partner>/
			}
			return nil
		}
		if ignored(d.Name()) {
			return nil
		}
		current[rel] = true
		if unsafeName(d.Name()) {
			in.refuse(path, rel, "the file name has control or invisible direction characters, which could disguise it",
				"rename the file to plain letters, digits, - and _ and drop it again")
			return nil
		}
		if d.Type()&fs.ModeSymlink != 0 {
			// A link could book another partner's file, or read any file
			// on the machine: only the file itself is taken.
			in.refuse(path, rel, in.symlinkProblem(path), "put the file itself in the inbox, not a link to it")
			return nil
		}
		info, err := os.Lstat(path)
		if err != nil || !info.Mode().IsRegular() {
			return nil
		}
		if hardLinked(info) {
			in.refuse(path, rel, "the file has other names on this machine (a hard link), so it may not be the partner's upload",
				"put a copy of the file itself in the inbox")
			return nil
		}
		l := look{size: info.Size(), mtime: info.ModTime()}
		in.mu.Lock()
		prev, ok := in.seen[rel]
		in.seen[rel] = l
		in.mu.Unlock()
		if !ok || prev != l || now.Sub(l.mtime) < in.cfg.Settle {
			return nil // new, still changing, or too fresh
		}
		if l.size == 0 {
			in.refuse(path, rel, "the file is empty (0 bytes)", "ask the clinic to send it again; if they send empty files when they have no bookings, nothing is lost")
			return nil
		}
		settled = append(settled, candidate{path, rel, l})
		return nil
	})
	in.mu.Lock()
	for rel := range in.seen {
		if !current[rel] {
			delete(in.seen, rel)
		}
	}
	in.mu.Unlock()
	sort.SliceStable(settled, func(i, j int) bool { return settled[i].l.mtime.Before(settled[j].l.mtime) })
	var ready []File
	for _, c := range settled {
		if (limit >= 0 && len(ready) >= limit) || ctx.Err() != nil {
			break
		}
		f, cerr := in.claim(c.path, c.rel, c.l)
		if cerr != nil {
			if !errors.Is(cerr, fs.ErrNotExist) {
				in.log.Error("inbox: claim", logging.KeyFile, c.rel, logging.Err(cerr))
			}
			continue
		}
		ready = append(ready, f)
	}
	if err != nil && !errors.Is(err, context.Canceled) {
		return ready, fmt.Errorf("inbox: scan %s: %w", in.cfg.Dir, err)
	}
	return ready, nil
}

// special reports the folders the inbox keeps inside itself.
func (in *Inbox) special(path string) bool {
	for _, d := range []string{in.cfg.ProcessingDir, in.cfg.ArchiveDir, in.cfg.ErrorDir} {
		if sameDir(path, d) {
			return true
		}
	}
	return false
}

func sameDir(a, b string) bool {
	aa, err1 := filepath.Abs(a)
	bb, err2 := filepath.Abs(b)
	return err1 == nil && err2 == nil && aa == bb
}

// symlinkProblem says why a symlink is refused. It never names the
// target: that would tell the partner's folder about the machine.
func (in *Inbox) symlinkProblem(path string) string {
	if _, err := filepath.EvalSymlinks(path); err != nil {
		return "it is a link to a file that does not exist"
	}
	return "it is a link to another file, which flabsync does not follow (it could be another partner's file, or any file on this machine)"
}

// unsafeName reports a file or folder name with control characters,
// invalid UTF-8 or invisible direction marks (U+202E shows "exe.csv" as
// "vsc.exe").
func unsafeName(name string) bool {
	if !utf8.ValidString(name) {
		return true
	}
	for _, r := range name {
		if unicode.IsControl(r) || unicode.Is(unicode.Bidi_Control, r) || r == '\u200b' || r == '\ufeff' {
			return true
		}
	}
	return false
}

// hardLinked reports a regular file with more than one name.
func hardLinked(info os.FileInfo) bool {
	st, ok := info.Sys().(*syscall.Stat_t)
	return ok && st.Nlink > 1
}

// partnerOf names a file's partner: its subfolder, else Config.Partner.
func (in *Inbox) partnerOf(rel string) string {
	if dir := filepath.Dir(rel); dir != "." {
		return strings.ToLower(dir)
	}
	if in.cfg.Partner != nil {
		if p := in.cfg.Partner(rel); p != "" {
			return p
		}
	}
	return pipeline.PartnerOf(rel)
}

// claim renames the file into the processing folder: atomic, so of two
// processes only one gets it.
func (in *Inbox) claim(path, rel string, l look) (File, error) {
	partner := in.partnerOf(rel)
	dir := filepath.Join(in.cfg.ProcessingDir, partner)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return File{}, err
	}
	dst := filepath.Join(dir, filepath.Base(rel))
	if _, err := os.Lstat(dst); err == nil {
		dst = unique(dst, in.cfg.Now())
	}
	if err := os.Rename(path, dst); err != nil {
		return File{}, err
	}
	in.mu.Lock()
	delete(in.seen, rel)
	in.mu.Unlock()
	in.log.Info("inbox: claimed", logging.KeyFile, rel, logging.KeyPartner, partner, "bytes", l.size)
	return File{Path: dst, Name: filepath.Base(rel), Rel: rel, Partner: partner, Size: l.size, ModTime: l.mtime}, nil
}

// Recover puts files left in the processing folder by a process that
// stopped mid-way back into the inbox, to be taken again: the ledger
// makes a second pass over a file send nothing twice. Only call it when
// no other process is working on the same folder.
func (in *Inbox) Recover() (int, error) { return in.recoverFrom(in.cfg.ProcessingDir) }

// PeerFolders names the other processes' processing folders under Peers
// that hold a file (none without Peers).
func (in *Inbox) PeerFolders() ([]string, error) {
	if in.cfg.Peers == "" {
		return nil, nil
	}
	entries, err := os.ReadDir(in.cfg.Peers)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, nil
		}
		return nil, fmt.Errorf("inbox: %w", err)
	}
	var out []string
	for _, e := range entries {
		dir := filepath.Join(in.cfg.Peers, e.Name())
		if !e.IsDir() || sameDir(dir, in.cfg.ProcessingDir) {
			continue
		}
		has := false
		filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
			if err == nil && !d.IsDir() {
				has = true
				return filepath.SkipAll
			}
			return nil
		})
		if has {
			out = append(out, e.Name())
		}
	}
	return out, nil
}

// PeerFolder is the processing folder of the process named name.
func (in *Inbox) PeerFolder(name string) string { return filepath.Join(in.cfg.Peers, name) }

// RecoverPeer puts the files a process named name left in its processing
// folder back into the inbox, as Recover does for this process's. Only
// call it when no process of that name is alive.
func (in *Inbox) RecoverPeer(name string) (int, error) {
	if in.cfg.Peers == "" || name == "" || name != filepath.Base(name) || name == "." || name == ".." {
		return 0, fmt.Errorf("inbox: recover %q: not a process's folder", name)
	}
	return in.recoverFrom(in.PeerFolder(name))
}

func (in *Inbox) recoverFrom(root string) (int, error) {
	n := 0
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil
		}
		rel, _ := filepath.Rel(root, path)
		dst := filepath.Join(in.cfg.Dir, rel)
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return err
		}
		if _, err := os.Lstat(dst); err == nil {
			dst = unique(dst, in.cfg.Now())
		}
		if err := os.Rename(path, dst); err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil // another process put it back first
			}
			return err
		}
		n++
		return nil
	})
	if err != nil {
		return n, fmt.Errorf("inbox: recover %s: %w", root, err)
	}
	return n, nil
}
