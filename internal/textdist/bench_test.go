package textdist_test

import (
	"testing"

	"github.com/flabsync/flabsync/internal/textdist"
)

// BenchmarkSimilarityPrefix: a misspelt catalogue name against another,
// as mapping's Suggest scores each shortlisted entry.
func BenchmarkSimilarityPrefix(b *testing.B) {
	q, e := "serum total free 1234 (t70x123x", "serum total free 1234 (t70x1234)"
	for b.Loop() {
		textdist.SimilarityPrefix(q, e, 21)
	}
}

// BenchmarkDistanceLong: names longer than the 32 bytes Go converts on the
// stack, and one in another script.
func BenchmarkDistanceLong(b *testing.B) {
	for _, tt := range []struct{ name, a, b string }{
		{"ascii", "thyroid stimulating hormone ultrasensitive (tsh)", "thyroid stimulating hormone, ultra sensitive"},
		{"unicode", "थायराइड प्रोफाइल टोटल", "थायराइड प्रोफाइल फ्री"},
	} {
		b.Run(tt.name, func(b *testing.B) {
			for b.Loop() {
				textdist.Distance(tt.a, tt.b)
			}
		})
	}
}
