package main

import (
	"bufio"
	"bytes"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// TestNoTestingInBinary fails if the shipped binary links the testing
// package (or any testing/... package), naming the import chain that
// brings it in. Test helpers such as flabstest take a small interface
// instead of testing.TB so that `flabsync sim` can use them.
func TestNoTestingInBinary(t *testing.T) {
	// go test puts $GOROOT/bin first on PATH, so this finds the toolchain
	// that built the test (runtime.GOROOT is deprecated for this).
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skipf("go command not found on PATH (%v); run under go test to check the binary's dependencies", err)
	}
	// Non-test dependencies of this directory's package only: -deps
	// without -test leaves _test.go files out.
	cmd := exec.CommandContext(t.Context(), goBin, "list", "-deps",
		"-f", "{{.ImportPath}}{{range .Imports}} {{.}}{{end}}", ".")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list -deps: %v\n%s", err, stderr.String())
	}

	// go list -deps prints dependencies before dependants, so the last
	// line is the package itself.
	imports := map[string][]string{}
	var root string
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 0 {
			continue
		}
		root = f[0]
		imports[f[0]] = f[1:]
	}
	if err := sc.Err(); err != nil {
		t.Fatalf("read go list output: %v", err)
	}
	if root == "" {
		t.Fatal("go list -deps printed no packages")
	}

	isTesting := func(p string) bool { return p == "testing" || strings.HasPrefix(p, "testing/") }
	var bad []string
	for p := range imports {
		if isTesting(p) {
			bad = append(bad, p)
		}
	}
	slices.Sort(bad)
	for _, p := range bad {
		t.Errorf("binary links %s: %s", p, strings.Join(importChain(imports, root, p), " -> "))
	}
}

// importChain returns a shortest import path from root to target in the
// graph imports (package → its direct imports), both ends included.
func importChain(imports map[string][]string, root, target string) []string {
	prev := map[string]string{root: ""}
	queue := []string{root}
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		if p == target {
			var chain []string
			for ; p != ""; p = prev[p] {
				chain = append(chain, p)
			}
			slices.Reverse(chain)
			return chain
		}
		for _, q := range imports[p] {
			if _, seen := prev[q]; !seen {
				prev[q] = p
				queue = append(queue, q)
			}
		}
	}
	return []string{root, "…", target}
}

// TestInternalHoldsOnlyLeaves fails if a package under internal/ imports
// a domain or orchestrating package (pipeline/, reconcile/, mapping/,
// schedules/): the direction is cmd → schedules → domain → internal/*,
// so an orchestrator (retention, say) lives beside the jobs in
// schedules/, never in internal/. Test files may import what they need.
func TestInternalHoldsOnlyLeaves(t *testing.T) {
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skipf("go command not found on PATH (%v); run under go test to check the import direction", err)
	}
	const module = "github.com/flabsync/flabsync/"
	cmd := exec.CommandContext(t.Context(), goBin, "list",
		"-f", "{{.ImportPath}}{{range .Imports}} {{.}}{{end}}", module+"internal/...")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, stderr.String())
	}
	upper := []string{"pipeline", "reconcile", "mapping", "schedules", "cmd"}
	listed := 0
	for line := range strings.Lines(string(out)) {
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		listed++
		for _, imp := range f[1:] {
			rest, ok := strings.CutPrefix(imp, module)
			if !ok {
				continue
			}
			top, _, _ := strings.Cut(rest, "/")
			if slices.Contains(upper, top) {
				t.Errorf("%s imports %s: internal/ holds only leaves; move the package beside its callers (an orchestrator goes in schedules/)", f[0], imp)
			}
		}
	}
	if listed == 0 {
		t.Fatal("go list printed no internal packages")
	}
}
