package mapping

import (
	"fmt"
	"strings"
)

// Text is the human form `flabsync mapping sync` prints: the counts,
// up to 20 changes of each kind, and every alias whose target vanished.
func (r *SyncReport) Text() string {
	var b strings.Builder
	w := &b
	fmt.Fprintf(w, "lab %s (%s): %d tests, %d packages\n", r.LabName, r.LabID, r.Tests, r.Packages)
	if r.Skipped > 0 {
		fmt.Fprintf(w, "skipped %d list item(s) with no ID or a repeated ID\n", r.Skipped)
	}
	section := func(title string, cs []Change, line func(Change) string) {
		fmt.Fprintf(w, "%s: %d\n", title, len(cs))
		for i, c := range cs {
			if i == 20 {
				fmt.Fprintf(w, "  … and %d more (--json lists them all)\n", len(cs)-i)
				break
			}
			fmt.Fprintf(w, "  %-7s %s  %s\n", c.Kind, c.ID, line(c))
		}
	}
	section("added", r.Added, func(c Change) string { return c.Name })
	section("removed", r.Removed, func(c Change) string { return c.Name })
	section("renamed", r.Renamed, func(c Change) string {
		var parts []string
		if c.OldName != "" {
			parts = append(parts, fmt.Sprintf("%q → %q", c.OldName, c.Name))
		}
		if c.OldCode != "" || c.Code != "" {
			if c.OldCode != c.Code {
				parts = append(parts, fmt.Sprintf("code %q → %q", c.OldCode, c.Code))
			}
		}
		return strings.Join(parts, ", ")
	})
	if len(r.Orphaned) > 0 {
		fmt.Fprintf(w, "ALIASES WHOSE TARGET VANISHED: %d (these names are now sent unmapped)\n", len(r.Orphaned))
		for _, e := range r.Orphaned {
			fmt.Fprintf(w, "  %-14s %-7s %q → %s %s\n", ScopeLabel(e.Scope), e.Kind, e.LocalName, e.TargetKey, e.Target)
		}
	}
	return b.String()
}

// ScopeLabel names an alias scope for people: a partner, or all
// partners for the empty scope.
func ScopeLabel(scope string) string {
	if scope == "" {
		return "all partners"
	}
	return "partner " + scope
}
