package flabstest

import (
	"net/http"

	"github.com/flabsync/flabsync/internal/flabs"
)

// DefaultTests is a small catalogue of tests as an Indian lab names them;
// IDs are 24-hex ObjectIds, codes play the part of flabs_id.
func DefaultTests() []flabs.CatalogueItem {
	return []flabs.CatalogueItem{
		{ID: "64f000000000000000000001", Code: "CBC", Name: "Complete Blood Count (CBC)", Cost: 350},
		{ID: "64f000000000000000000002", Code: "LFT", Name: "Liver Function Test (LFT)", Cost: 700},
		{ID: "64f000000000000000000003", Code: "KFT", Name: "Kidney Function Test (KFT)", Cost: 750},
		{ID: "64f000000000000000000004", Code: "TSH", Name: "Thyroid Stimulating Hormone (TSH)", Cost: 300},
		{ID: "64f000000000000000000005", Code: "FT4", Name: "Free T4 (FT4)", Cost: 350},
		{ID: "64f000000000000000000006", Code: "T4", Name: "Thyroxine (T4)", Cost: 250},
		{ID: "64f000000000000000000007", Code: "HBA1C", Name: "Glycosylated Haemoglobin (HbA1c)", Cost: 550},
		{ID: "64f000000000000000000008", Code: "HB", Name: "Haemoglobin (Hb)", Cost: 120},
		{ID: "64f000000000000000000009", Code: "FBS", Name: "Fasting Blood Sugar (FBS)", Cost: 80},
		{ID: "64f00000000000000000000a", Code: "VITD", Name: "Vitamin D Total (25-OH)", Cost: 1200},
		{ID: "64f00000000000000000000b", Code: "VITB12", Name: "Vitamin B12", Cost: 900},
		{ID: "64f00000000000000000000c", Code: "LIPID", Name: "Lipid Profile", Cost: 600},
	}
}

// DefaultPackages is a small catalogue of packages.
func DefaultPackages() []flabs.CatalogueItem {
	return []flabs.CatalogueItem{
		{ID: "65a000000000000000000001", Name: "Thyroid Profile (T3 T4 TSH)", Cost: 600},
		{ID: "65a000000000000000000002", Name: "Full Body Checkup Basic", Cost: 1999},
		{ID: "65a000000000000000000003", Name: "Diabetes Care", Cost: 999},
	}
}

func (s *Server) handleLabs(w http.ResponseWriter, r *http.Request) {
	data := make([]map[string]any, 0, len(s.opts.Labs))
	for _, l := range s.opts.Labs {
		data = append(data, map[string]any{"_id": l.ID, "name": l.Name})
	}
	s.writeJSON(w, http.StatusOK, map[string]any{"success": true, "data": data})
}

func (s *Server) handleCatalogue(w http.ResponseWriter, r *http.Request, items []flabs.CatalogueItem, priceKey string) {
	branch := r.URL.Query().Get("branchID")
	if branch == "" {
		s.fail(w, http.StatusBadRequest, "branchID is required")
		return
	}
	if !s.knownLab(branch) {
		s.fail(w, http.StatusBadRequest, "branchID "+branch+" is unknown")
		return
	}
	data := make([]map[string]any, 0, len(items))
	for _, it := range items {
		m := map[string]any{"_id": it.ID, "name": it.Name, priceKey: it.Cost}
		if it.Code != "" {
			m["code"] = it.Code
		}
		data = append(data, m)
	}
	s.writeJSON(w, http.StatusOK, map[string]any{"success": true, "data": data})
}

func (s *Server) knownLab(id string) bool {
	for _, l := range s.opts.Labs {
		if l.ID == id {
			return true
		}
	}
	return false
}
