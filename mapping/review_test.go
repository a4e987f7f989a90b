package mapping_test

import (
	"context"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/xuri/excelize/v2"

	"github.com/flabsync/flabsync/internal/store/storetest"
	"github.com/flabsync/flabsync/mapping"
)

// TestReviewLoop: unmapped names go out in a review sheet with
// suggestions and empty targets; a person fills in some; the sheet
// imports back as it is, and those names map from then on.
func TestReviewLoop(t *testing.T) {
	ctx := context.Background()
	ms := mapping.NewStore(storetest.OpenSQLite(t))
	syncSample(t, ms)
	ix, err := ms.Index(ctx)
	if err != nil {
		t.Fatal(err)
	}
	rows := mapping.Review(ix, []mapping.Unmapped{
		{Partner: "sunrise", Kind: mapping.KindTest, Name: "Trop T", Count: 1},
		{Partner: "sunrise", Kind: mapping.KindTest, Name: "Vitamin D (25-OH)", Count: 2},
		{Partner: "sunrise", Kind: mapping.KindTest, Name: "vitamin d (25-oh) ", Count: 1}, // the same name, merged
		{Partner: "metro", Kind: mapping.KindPackage, Name: "Wellness Basic", Count: 5},
	})
	if len(rows) != 3 || rows[0].LocalName != "Wellness Basic" || rows[1].Count != 3 {
		t.Fatalf("rows = %+v; want 3, most frequent first, the two spellings merged", rows)
	}
	if rows[1].Suggestions[0].Name != "Vitamin D Total (25-OH)" {
		t.Errorf("suggestions for %q: %+v", rows[1].LocalName, rows[1].Suggestions)
	}
	path := filepath.Join(t.TempDir(), "exceptions.xlsx")
	f := excelize.NewFile()
	if err := mapping.WriteReviewSheet(f, "unmapped", rows); err != nil {
		t.Fatal(err)
	}
	if err := f.SaveAs(path); err != nil {
		t.Fatal(err)
	}
	f.Close()

	// Nothing filled in yet: the sheet imports as a no-op.
	lines, err := mapping.ReadTableFile(path)
	if err != nil {
		t.Fatal(err)
	}
	plan, err := ms.Import(ctx, lines, mapping.ImportOptions{Source: mapping.SourceReview, SkipUnfilled: true, By: "ops", Now: now})
	if err != nil || !plan.OK() || plan.Added != 0 || plan.Unfilled != 3 {
		t.Fatalf("unfilled import: %+v, %v", plan, err)
	}

	// A person copies the suggested ID for Vitamin D and names the
	// package's ID; Trop T stays for Flabs staff.
	f, err = excelize.OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	header, _ := f.GetRows("unmapped")
	idCol := -1
	for i, h := range header[0] {
		if h == "ID" {
			idCol = i + 1
		}
	}
	for r, row := range header[1:] {
		cell, _ := excelize.CoordinatesToCellName(idCol, r+2)
		switch row[2] {
		case "Vitamin D (25-OH)":
			f.SetCellValue("unmapped", cell, row[7]) // Suggestion 1 ID
		case "Wellness Basic":
			f.SetCellValue("unmapped", cell, "65a000000000000000000002")
		}
	}
	if err := f.Save(); err != nil {
		t.Fatal(err)
	}
	f.Close()
	lines, err = mapping.ReadTableFile(path)
	if err != nil {
		t.Fatal(err)
	}
	plan, err = ms.Import(ctx, lines, mapping.ImportOptions{Source: mapping.SourceReview, SkipUnfilled: true, By: "ops", Now: now})
	if err != nil || !plan.OK() || plan.Added != 2 || plan.Unfilled != 1 {
		t.Fatalf("filled import: %+v, %v", plan, err)
	}
	ix, err = ms.Index(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if m := ix.Lookup("sunrise", mapping.KindTest, "Vitamin D (25-OH)"); m.How != mapping.MatchAlias || m.Catalogue != "Vitamin D Total (25-OH)" {
		t.Errorf("after review: %+v", m)
	}
	if m := ix.Lookup("lakeview", mapping.KindTest, "Vitamin D (25-OH)"); m.Mapped() {
		t.Errorf("a partner's review maps for another partner: %+v", m)
	}
	if m := ix.Lookup("sunrise", mapping.KindTest, "Trop T"); m.Mapped() {
		t.Errorf("an unfilled line mapped: %+v", m)
	}
	es, _ := ms.Entries(ctx)
	for _, e := range es {
		if e.Source != mapping.SourceReview || e.CreatedBy != "ops" {
			t.Errorf("entry %+v: want source review by ops", e)
		}
	}
}

func TestReviewSheetKeepsFormulasOut(t *testing.T) {
	rows := []mapping.ReviewRow{{Line: mapping.Line{Partner: "p", Kind: "test", LocalName: `=HYPERLINK("http://x","y")`}, Count: 1}}
	f := excelize.NewFile()
	defer f.Close()
	if err := mapping.WriteReviewSheet(f, "unmapped", rows); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "r.xlsx")
	if err := f.SaveAs(path); err != nil {
		t.Fatal(err)
	}
	g, err := excelize.OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	formula, _ := g.GetCellFormula("unmapped", "C2")
	value, _ := g.GetCellValue("unmapped", "C2")
	if formula != "" || !strings.HasPrefix(value, "=HYPERLINK") {
		t.Errorf("C2: formula %q value %q; want the text as written and no formula", formula, value)
	}
}

// TestReviewSheetHeadersOldAndNew: the review sheet's header is in words
// a person reads; `mapping import --review` reads a sheet with those and
// one written before, with the table's own names.
func TestReviewSheetHeadersOldAndNew(t *testing.T) {
	for name, header := range map[string][]string{
		"New": mapping.ReviewColumns,
		"Old": {"partner", "kind", "local_name", "id", "flabs_id", "bookings", "suggestion_1", "suggestion_1_id", "suggestion_1_score", "suggestion_1_reason"},
	} {
		t.Run(name, func(t *testing.T) {
			f := excelize.NewFile()
			defer f.Close()
			row := []any{"sunrise", "test", "Trop T", "64f00000000000000000003e", "", 1, "Troponin I", "64f00000000000000000003e", 0.2, "1 shared word"}
			f.SetSheetRow("Sheet1", "A1", &header)
			f.SetSheetRow("Sheet1", "A2", &row)
			path := filepath.Join(t.TempDir(), "review.xlsx")
			if err := f.SaveAs(path); err != nil {
				t.Fatal(err)
			}
			lines, err := mapping.ReadTableFile(path)
			if err != nil || len(lines) != 1 || lines[0].LocalName != "Trop T" || lines[0].ID != "64f00000000000000000003e" || lines[0].Partner != "sunrise" {
				t.Fatalf("lines %+v, %v", lines, err)
			}
		})
	}
	if slices.Contains(mapping.ReviewColumns, "local_name") || mapping.ReviewColumns[2] != "Name as written" {
		t.Errorf("review headers %q: want words a person reads", mapping.ReviewColumns)
	}
}
