package rules_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/flabsync/flabsync/mapping"
	"github.com/flabsync/flabsync/pipeline/ledger"
	"github.com/flabsync/flabsync/reconcile"
)

// stateWords are every state a rule's query tests: the ledger's booking,
// row and file states, the webhook-folded bill states, how a name
// mapped, and the exception statuses.
func stateWords() map[string]string {
	words := map[string]string{}
	add := func(kind string, vs ...string) {
		for _, v := range vs {
			words[v] = kind
		}
	}
	add("ledger.BookingState", string(ledger.Pending), string(ledger.InFlight), string(ledger.Retry), string(ledger.Submitted),
		string(ledger.Rejected), string(ledger.Failed), string(ledger.Held), string(ledger.Unconfirmed))
	add("ledger.RowStatus", string(ledger.RowAccepted), string(ledger.RowRejected), string(ledger.RowSkipped), string(ledger.RowDuplicate))
	add("ledger.FileStatus", string(ledger.FileReading), string(ledger.FileDone), string(ledger.FileInterrupted), string(ledger.FileUnbalanced),
		string(ledger.FileFailed), string(ledger.FileDuplicate), string(ledger.FileAbandoned), string(ledger.FileRefused))
	add("reconcile.State", string(reconcile.StateNone), string(reconcile.StateCreated), string(reconcile.StateCompleted), string(reconcile.StateDeleted))
	add("reconcile.Status", string(reconcile.StatusNew), string(reconcile.StatusOpen), string(reconcile.StatusResolved), string(reconcile.StatusClosed), string(reconcile.StatusSnoozed))
	add("mapping match", mapping.MatchNone, mapping.MatchAlias, mapping.MatchCatalogue, mapping.MatchAbbreviation, mapping.MatchNamePart)
	return words
}

// TestNoStateLiteralsInSQL reads the package's own source: no SQL text
// may spell a state as a quoted literal ('rejected', 'pending',
// 'in_flight', 'resolved'…). States reach SQL only as bound parameters
// from their Go constants, so renaming one cannot compile and silently
// stop matching.
func TestNoStateLiteralsInSQL(t *testing.T) {
	words := stateWords()
	sqlish := regexp.MustCompile(`(?i)\b(select|update|insert|where|from|and|or|case|when)\b`)
	quoted := regexp.MustCompile(`'([A-Za-z_-]+)'`)
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	checked := 0
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		src, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		f, err := parser.ParseFile(fset, name, src, 0)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(f, func(n ast.Node) bool {
			lit, ok := n.(*ast.BasicLit)
			if !ok || lit.Kind != token.STRING {
				return true
			}
			s, err := strconv.Unquote(lit.Value)
			if err != nil || !sqlish.MatchString(s) {
				return true
			}
			checked++
			for _, m := range quoted.FindAllStringSubmatch(s, -1) {
				if kind, ok := words[m[1]]; ok {
					t.Errorf("%s: SQL spells the %s %s as a literal: bind the constant as a parameter", fset.Position(lit.Pos()), kind, m[0])
				}
			}
			return true
		})
	}
	if checked < 10 {
		t.Fatalf("only %d SQL strings found: is the scan looking at the rules' source?", checked)
	}
}

// TestStoredStateValues pins the values of the states the rules query:
// they are stored in every database (and some in the migrations'
// defaults and indexes), so a renamed value compiles, passes on a fresh
// database and finds nothing on a real one. Renaming one needs a
// migration of the stored rows; then change this table.
func TestStoredStateValues(t *testing.T) {
	want := map[string]string{
		"pending": "ledger.BookingState", "in_flight": "ledger.BookingState", "retry": "ledger.BookingState", "submitted": "ledger.BookingState",
		"rejected": "ledger.RowStatus", "failed": "ledger.FileStatus", "held": "ledger.BookingState", "unconfirmed": "ledger.BookingState",
		"accepted": "ledger.RowStatus", "skipped": "ledger.RowStatus", "duplicate": "ledger.FileStatus",
		"reading": "ledger.FileStatus", "done": "ledger.FileStatus", "interrupted": "ledger.FileStatus", "unbalanced": "ledger.FileStatus",
		"abandoned": "ledger.FileStatus", "refused": "ledger.FileStatus",
		"none": "mapping match", "created": "reconcile.State", "completed": "reconcile.State", "deleted": "reconcile.State",
		"new": "reconcile.Status", "open": "reconcile.Status", "resolved": "reconcile.Status", "closed": "reconcile.Status", "snoozed": "reconcile.Status",
		"alias": "mapping match", "catalogue": "mapping match", "abbreviation": "mapping match", "name-part": "mapping match",
	}
	got := stateWords()
	for v := range got {
		if _, ok := want[v]; !ok {
			t.Errorf("state value %q (%s) is not one the databases hold: a renamed constant needs a migration of the stored rows", v, got[v])
		}
	}
	for v := range want {
		if _, ok := got[v]; !ok {
			t.Errorf("no state has the stored value %q any more: rows holding it would match nothing", v)
		}
	}
}
