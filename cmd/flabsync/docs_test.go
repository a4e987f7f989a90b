package main

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/flabsync/flabsync/internal/refdoc"
)

// repoRoot is the repository, seen from this package's folder.
const repoRoot = "../.."

// The command reference and the key table are what the code generates:
// a flag, a command or a config key added without `make docs` fails here.
func TestGeneratedDocsUpToDate(t *testing.T) {
	pages, err := generateDocs()
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range sortedKeys(pages) {
		path := filepath.Join(repoRoot, "docs", name)
		have, err := os.ReadFile(path)
		if err != nil {
			t.Errorf("docs/%s: %v: run %s and commit it", name, err, refdoc.Regenerate)
			continue
		}
		if want := pages[name]; !bytes.Equal(have, want) {
			t.Errorf("docs/%s differs from what the code generates (%s): run %s and commit it",
				name, firstDifference(have, want), refdoc.Regenerate)
		}
	}
}

// firstDifference names the first line where the committed page (have)
// and the generated one (want) differ.
func firstDifference(have, want []byte) string {
	h, w := strings.Split(string(have), "\n"), strings.Split(string(want), "\n")
	for i := 0; i < len(h) || i < len(w); i++ {
		var hl, wl string
		if i < len(h) {
			hl = h[i]
		}
		if i < len(w) {
			wl = w[i]
		}
		if hl != wl || i >= len(h) || i >= len(w) {
			return fmt.Sprintf("line %d: committed %q, generated %q", i+1, hl, wl)
		}
	}
	return "no line differs"
}

// Every command the help lists is in the reference with its flags, and
// a flag set nobody reads would be a command whose -h is not documented.
func TestGeneratedCommandsCoverEveryFlagSet(t *testing.T) {
	for _, c := range docCommands() {
		if c.words[0] == "help" || (len(c.words) == 1 && c.words[0] == "mapping") {
			continue
		}
		if made, printed := usageOf(c); made == nil {
			t.Errorf("flabsync %s -h made no flag set named %q; printed:\n%s", strings.Join(c.words, " "), strings.Join(c.words, " "), printed)
		}
	}
	// A new flag changes the page: the check above is not blind to it.
	before, err := commandsMarkdown()
	if err != nil {
		t.Fatal(err)
	}
	mappingCommands = append(mappingCommands, mappingCommands[0])
	mappingCommands[len(mappingCommands)-1].name = "extra"
	defer func() { mappingCommands = mappingCommands[:len(mappingCommands)-1] }()
	after, err := commandsMarkdown()
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(before, after) {
		t.Error("a new subcommand did not change the generated command reference")
	}
}

// Every relative link in the README, the manual and the changelog leads
// to a file in the repository and, with #anchor, to a heading in it.
func TestDocLinksResolve(t *testing.T) {
	files := []string{"README.md", "CHANGELOG.md", "BENCHMARKS.md"}
	mds, _ := filepath.Glob(filepath.Join(repoRoot, "docs", "*.md"))
	if len(mds) == 0 {
		t.Fatal("no docs/*.md")
	}
	for _, p := range mds {
		rel, _ := filepath.Rel(repoRoot, p)
		files = append(files, rel)
	}
	anchors := map[string]map[string]bool{}
	for _, f := range files {
		body, err := os.ReadFile(filepath.Join(repoRoot, f))
		if err != nil {
			t.Errorf("%s: %v", f, err)
			continue
		}
		for _, l := range markdownLinks(string(body)) {
			target, frag, _ := strings.Cut(l.target, "#")
			if strings.Contains(target, "://") || strings.HasPrefix(target, "mailto:") {
				continue
			}
			path := f
			if target != "" {
				path = filepath.Join(filepath.Dir(f), target)
			}
			if p := filepath.Clean(path); p == ".." || strings.HasPrefix(p, "../") || filepath.IsAbs(target) {
				t.Errorf("%s:%d: link %q leaves the repository", f, l.line, l.target)
				continue
			}
			if _, err := os.Stat(filepath.Join(repoRoot, path)); err != nil {
				if why, ok := pendingFiles[filepath.ToSlash(filepath.Clean(path))]; ok {
					t.Logf("%s:%d: %s is not in this branch yet (%s)", f, l.line, path, why)
					continue
				}
				t.Errorf("%s:%d: link %q: no such file %s", f, l.line, l.target, path)
				continue
			}
			if frag == "" || !strings.HasSuffix(path, ".md") {
				continue
			}
			if anchors[path] == nil {
				b, _ := os.ReadFile(filepath.Join(repoRoot, path))
				anchors[path] = headingAnchors(string(b))
			}
			if !anchors[path][frag] {
				t.Errorf("%s:%d: link %q: %s has no heading #%s", f, l.line, l.target, path, frag)
			}
		}
	}
}

// pendingFiles are files the docs name that another change commits; the
// link test says so instead of failing until they arrive.
var pendingFiles = map[string]string{}

type mdLink struct {
	line   int
	target string
}

var (
	linkRE     = regexp.MustCompile(`!?\[[^\]]*\]\(([^)\s]+)(?:\s+"[^"]*")?\)`)
	codeSpanRE = regexp.MustCompile("`[^`]*`")
)

// markdownLinks returns the inline links and images outside code.
func markdownLinks(md string) []mdLink {
	var out []mdLink
	fenced := false
	sc := bufio.NewScanner(strings.NewReader(md))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if strings.HasPrefix(strings.TrimSpace(line), "```") {
			fenced = !fenced
			continue
		}
		if fenced {
			continue
		}
		line = codeSpanRE.ReplaceAllString(line, "")
		for _, m := range linkRE.FindAllStringSubmatch(line, -1) {
			out = append(out, mdLink{n, m[1]})
		}
	}
	return out
}

// headingAnchors returns the anchors GitHub gives a file's headings.
func headingAnchors(md string) map[string]bool {
	out := map[string]bool{}
	seen := map[string]int{}
	fenced := false
	for _, line := range strings.Split(md, "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "```") {
			fenced = !fenced
		}
		if fenced || !strings.HasPrefix(line, "#") {
			continue
		}
		h := strings.TrimSpace(strings.TrimLeft(line, "#"))
		a := githubAnchor(h)
		if k := seen[a]; k > 0 {
			out[a+"-"+strconv.Itoa(k)] = true
		} else {
			out[a] = true
		}
		seen[a]++
	}
	return out
}

// githubAnchor lower-cases a heading, drops punctuation but - and _, and
// turns spaces into hyphens, as GitHub does.
func githubAnchor(h string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(h) {
		switch {
		case r == ' ':
			b.WriteRune('-')
		case r == '-' || r == '_' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r > 127 && isLetter(r):
			b.WriteRune(r)
		}
	}
	return b.String()
}

func isLetter(r rune) bool { return strings.ToUpper(string(r)) != strings.ToLower(string(r)) }

func TestGithubAnchor(t *testing.T) {
	for h, want := range map[string]string{
		"The first day: going live":         "the-first-day-going-live",
		"flabsync mapping sync":             "flabsync-mapping-sync",
		"What each answer proves (and why)": "what-each-answer-proves-and-why",
		"`retention.patient_data_days`":     "retentionpatient_data_days",
	} {
		if got := githubAnchor(h); got != want {
			t.Errorf("githubAnchor(%q) = %q, want %q", h, got, want)
		}
	}
}

// The README's quick start runs as written, line by line, against
// `flabsync sim`, each line with the exit code its comment gives (0 when
// it names none). Three things differ from a person's terminal: flabsync
// is this test binary (the `make` line is passed over), the simulator
// listens on a free port instead of 9191, and HOME is a temporary folder.
func TestQuickStart(t *testing.T) {
	t.Parallel() // it waits on child processes, mostly: it runs beside the others
	if testing.Short() {
		t.Skip("-short: the quick start runs a simulator and several commands")
	}
	for _, tool := range []string{"bash", "openssl", "sed"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("the quick start needs %s: %v", tool, err)
		}
	}
	readme, err := os.ReadFile(filepath.Join(repoRoot, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	lines := quickStartLines(t, string(readme))

	bin := t.TempDir()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	wrapper := "#!/bin/sh\nFLABSYNC_TEST_MAIN=1 exec " + strconv.Quote(exe) + " \"$@\"\n"
	if err := os.WriteFile(filepath.Join(bin, "flabsync"), []byte(wrapper), 0o755); err != nil {
		t.Fatal(err)
	}
	port := freePort(t)

	var script strings.Builder
	script.WriteString("trap 'kill $(jobs -p) 2>/dev/null' EXIT\n")
	var ran []string
	for i, l := range lines {
		cmd, comment, _ := strings.Cut(l, "  #")
		cmd = strings.TrimSpace(cmd)
		if strings.HasPrefix(cmd, "make ") {
			continue
		}
		want := 0
		if m := regexp.MustCompile(`\bexit (\d)`).FindStringSubmatch(comment); m != nil {
			want, _ = strconv.Atoi(m[1])
		}
		cmd = strings.ReplaceAll(cmd, "127.0.0.1:9191", "127.0.0.1:"+port)
		if cmd == "flabsync sim &" {
			cmd = "flabsync sim --listen 127.0.0.1:" + port + " 2>\"$HOME/sim.log\" &"
			fmt.Fprintf(&script, "%s\nfor i in $(seq 200); do (exec 3<>/dev/tcp/127.0.0.1/%s) 2>/dev/null && break; sleep 0.05; done\n", cmd, port)
			ran = append(ran, "flabsync sim")
			continue
		}
		fmt.Fprintf(&script, "echo '$ '%s\n%s\nrc=$?; if [ $rc -ne %d ]; then echo \"quick start line %d exited $rc, want %d: %s\" >&2; exit 99; fi\n",
			shellQuote(cmd), cmd, want, i+1, want, strings.ReplaceAll(shellQuote(cmd), "\"", "\\\""))
		ran = append(ran, cmd)
	}
	joined := strings.Join(ran, "\n")
	for _, must := range []string{"flabsync version", "flabsync import --dry-run", "flabsync sim"} {
		if !strings.Contains(joined, must) {
			t.Errorf("the quick start no longer runs %q", must)
		}
	}

	home := t.TempDir()
	cmd := exec.Command("bash", "-c", script.String())
	cmd.Dir = repoRoot
	cmd.Env = append(os.Environ(), "HOME="+home, "PATH="+bin+string(os.PathListSeparator)+os.Getenv("PATH"),
		"FLABSYNC_CONFIG=", "LOG_LEVEL=", "LOG_FORMAT=")
	done := make(chan struct{})
	timer := time.AfterFunc(2*time.Minute, func() { cmd.Process.Kill(); close(done) })
	out, err := cmd.CombinedOutput()
	timer.Stop()
	select {
	case <-done:
		t.Fatalf("the quick start did not finish in 2 minutes:\n%s", out)
	default:
	}
	if err != nil {
		t.Fatalf("the quick start fails as written: %v\n%s", err, out)
	}
	t.Logf("the quick start, as run:\n%s", out)
	if !regexp.MustCompile(`(?m)^flabsync \S+ \(`).Match(out) {
		t.Errorf("flabsync version printed no version line:\n%s", out)
	}
}

// quickStartLines returns the command lines of the README's quick start:
// the first ```sh block after the "Quick start" heading.
func quickStartLines(t *testing.T, readme string) []string {
	t.Helper()
	_, after, ok := strings.Cut(readme, "\n## Quick start")
	if !ok {
		t.Fatal(`README.md has no "## Quick start" heading`)
	}
	_, block, ok := strings.Cut(after, "```sh\n")
	if !ok {
		t.Fatal("README.md's quick start has no ```sh block")
	}
	block, _, _ = strings.Cut(block, "```")
	var out []string
	for _, l := range strings.Split(block, "\n") {
		if s := strings.TrimSpace(l); s != "" && !strings.HasPrefix(s, "#") {
			out = append(out, l)
		}
	}
	return out
}

func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// freePort returns a port nothing listens on now, for a child process
// that must be told its address in advance.
func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	_, port, _ := net.SplitHostPort(l.Addr().String())
	return port
}
