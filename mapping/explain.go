package mapping

// Explained is one name as `flabsync mapping lookup` shows it: how it
// maps and, when it does not, the catalogue entries that look close. Its
// JSON is the stable shape of `mapping lookup --json`.
type Explained struct {
	Name        string                `json:"name"`
	Kind        string                `json:"kind"`
	Match       string                `json:"match"`
	Target      string                `json:"target"`
	Key         string                `json:"key"`
	Suggestions []ExplainedSuggestion `json:"suggestions"` // never nil
	// Lookup is the whole answer the fields above summarise.
	Lookup Match `json:"-"`
}

// ExplainedSuggestion is one suggestion in Explained: for people, never
// applied.
type ExplainedSuggestion struct {
	Target string  `json:"target"`
	Name   string  `json:"name"`
	Score  float64 `json:"score"`
	Reason string  `json:"reason"`
}

// Explain looks name up as partner writes it in kind's column and, when
// it does not map, adds up to Suggest's suggestions.
func (ix *Index) Explain(partner string, kind Kind, name string) Explained {
	mt := ix.Lookup(partner, kind, name)
	r := Explained{Name: name, Kind: string(mt.Kind), Match: mt.How, Target: mt.Target, Key: string(mt.TargetKey),
		Suggestions: []ExplainedSuggestion{}, Lookup: mt}
	if !mt.Mapped() {
		for _, s := range ix.Suggest(kind, name) {
			r.Suggestions = append(r.Suggestions, ExplainedSuggestion{Target: s.Target, Name: s.Name, Score: s.Score, Reason: s.Reason})
		}
	}
	return r
}
