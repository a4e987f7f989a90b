package flabs

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// The list endpoints' schemas are not documented (flabs-api.md §5), so
// their answers are decoded tolerantly: the list may be the body itself or
// sit under a common wrapper key, and each item's fields are looked up
// under several plausible names. The whole item is kept in Raw.
var (
	listKeys  = []string{"data", "tests", "packages", "labs", "branches", "items", "results", "list"}
	idKeys    = []string{"_id", "id", "testID", "packageID", "labID", "branchID"}
	nameKeys  = []string{"name", "testName", "packageName", "labName", "branchName", "title"}
	codeKeys  = []string{"code", "flabs_id", "testCode", "shortCode", "short_name", "shortName", "abbreviation"}
	priceKeys = []string{"cost", "total", "price", "rate", "amount"}
)

// decodeCatalogue finds the list in body and decodes its items. Items with
// no usable ID are skipped and counted.
func decodeCatalogue(body []byte) (items []CatalogueItem, skipped int, err error) {
	arr, err := findList(body, 0)
	if err != nil {
		return nil, 0, err
	}
	for _, raw := range arr {
		var m map[string]json.RawMessage
		if json.Unmarshal(raw, &m) != nil {
			skipped++
			continue
		}
		it := CatalogueItem{ID: str(m, idKeys), Name: str(m, nameKeys), Code: str(m, codeKeys), Raw: raw}
		it.Cost, _ = num(m, priceKeys)
		if it.ID == "" {
			skipped++
			continue
		}
		items = append(items, it)
	}
	return items, skipped, nil
}

var errNoList = errors.New("no list found in answer")

func findList(body []byte, depth int) ([]json.RawMessage, error) {
	body = bytes.TrimSpace(body)
	if len(body) == 0 {
		return nil, errNoList
	}
	switch body[0] {
	case '[':
		var arr []json.RawMessage
		if err := json.Unmarshal(body, &arr); err != nil {
			return nil, fmt.Errorf("decode list: %w", err)
		}
		return arr, nil
	case '{':
		if depth > 2 {
			return nil, errNoList
		}
		var m map[string]json.RawMessage
		if err := json.Unmarshal(body, &m); err != nil {
			return nil, fmt.Errorf("decode list: %w", err)
		}
		for _, k := range listKeys {
			if v, ok := m[k]; ok {
				if arr, err := findList(v, depth+1); err == nil {
					return arr, nil
				}
			}
		}
	}
	return nil, errNoList
}

// str returns the first key present as a string (numbers are formatted).
func str(m map[string]json.RawMessage, keys []string) string {
	for _, k := range keys {
		v, ok := m[k]
		if !ok {
			continue
		}
		var s string
		if json.Unmarshal(v, &s) == nil && strings.TrimSpace(s) != "" {
			return strings.TrimSpace(s)
		}
		var n json.Number
		if json.Unmarshal(v, &n) == nil {
			return n.String()
		}
	}
	return ""
}

// num returns the first key present as a number (numeric strings count).
func num(m map[string]json.RawMessage, keys []string) (float64, bool) {
	for _, k := range keys {
		v, ok := m[k]
		if !ok {
			continue
		}
		var f float64
		if json.Unmarshal(v, &f) == nil {
			return f, true
		}
		var s string
		if json.Unmarshal(v, &s) == nil {
			if f, err := strconv.ParseFloat(strings.TrimSpace(s), 64); err == nil {
				return f, true
			}
		}
	}
	return 0, false
}

func jsonBody(v any) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("flabs: encode request: %w", err)
	}
	return b, nil
}
