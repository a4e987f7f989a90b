package mapping

// Listed is a mapping table entry as `flabsync mapping list` shows it:
// the catalogue name its target has, and whether that target is missing
// from the synced catalogue (the alias then maps to nothing).
type Listed struct {
	Entry
	CatalogueName string `json:"catalogue_name"`
	Missing       bool   `json:"target_missing"`
}

// List returns es as listed against ix: only partner's aliases and the
// global ones when partner is set, every entry otherwise. Never nil.
func (ix *Index) List(es []Entry, partner string) []Listed {
	rows := []Listed{}
	for _, e := range es {
		if partner != "" && e.Scope != "" && e.Scope != partner {
			continue
		}
		r := Listed{Entry: e}
		if mt := ix.Lookup(e.Scope, e.Kind, e.LocalName); mt.How == MatchAlias && mt.Target == e.Target {
			r.CatalogueName = mt.Catalogue
		}
		r.Missing = !ix.Known(e.Kind, e.Target, e.TargetKey)
		rows = append(rows, r)
	}
	return rows
}
