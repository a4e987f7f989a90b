package flabstest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"slices"
	"strings"

	"github.com/flabsync/flabsync/internal/flabs"
)

// maxBody bounds a request body.
const maxBody = 1 << 20

func (s *Server) handleBilling(w http.ResponseWriter, r *http.Request, req *Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		s.fail(w, http.StatusRequestEntityTooLarge, "request body too large")
		return
	}
	in, msg := s.validateBilling(body)
	key := s.nextCallKey()
	if in != nil && in.IntegratorID != "" {
		req.IntegratorID = in.IntegratorID
		s.mu.Lock()
		s.attempts[in.IntegratorID]++
		key = fmt.Sprintf("%s#%d", in.IntegratorID, s.attempts[in.IntegratorID])
		s.mu.Unlock()
	}
	fault := s.fault(w, r, key, req)
	if fault == "fail" || fault == "drop" {
		return
	}
	if msg != "" {
		s.fail(w, http.StatusBadRequest, s.echo(in, msg))
		return
	}
	if slices.Contains(s.opts.ForbiddenLeadSources, in.LeadSource) {
		s.stats.Forbidden.Add(1)
		s.fail(w, http.StatusForbidden, s.echo(in, fmt.Sprintf("lead_source %q is forbidden for this account", in.LeadSource)))
		return
	}
	status, resp := s.book(in)
	if fault == "timeout" { // booked, but the answer never arrives
		s.hang(w, r)
		return
	}
	if status != http.StatusOK || !resp.Success {
		msg := s.echo(in, resp.Message)
		if status == http.StatusOK { // DuplicateOKFalse
			if rec, ok := w.(*recorder); ok {
				rec.msg = msg
			}
			s.writeJSON(w, status, map[string]any{"success": false, "message": msg})
			return
		}
		s.fail(w, status, msg)
		return
	}
	s.writeJSON(w, http.StatusOK, resp)
}

// echo adds the patient to a refusal's message when EchoPatient is set.
func (s *Server) echo(in *flabs.BillingRequest, msg string) string {
	if !s.opts.EchoPatient || in == nil {
		return msg
	}
	p := in.PatientDetails
	return fmt.Sprintf("%s (patient %q, %d %s)", msg, strings.TrimSpace(p.FirstName+" "+p.LastName), p.Age, p.AgeType)
}

// book applies the duplicate and barcode rules and records the booking,
// all under one lock so concurrent resends cannot both book.
func (s *Server) book(in *flabs.BillingRequest) (int, flabs.BillingResponse) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if prev := s.bookings[in.IntegratorID]; len(prev) > 0 {
		s.stats.Duplicates.Add(1)
		switch s.opts.Duplicate {
		case DuplicateReplay:
			return http.StatusOK, flabs.BillingResponse{Success: true, Message: "Booking created successfully",
				IntegratorID: in.IntegratorID, PreBookingID: prev[0].PreBookingID}
		case DuplicateReject:
			return http.StatusConflict, flabs.BillingResponse{Message: "integrator_id already exists"}
		case DuplicateOKFalse:
			return http.StatusOK, flabs.BillingResponse{Message: "Something went wrong"}
		}
	}
	if owner, ok := s.barcodes[in.BarCode]; ok && in.BarCode != "" && owner != in.IntegratorID {
		return s.opts.BarcodeConflictStatus, flabs.BillingResponse{Message: "barCode already exists"}
	}
	b := &Booking{PreBookingID: s.newIDLocked(), BillID: s.newIDLocked(), Received: s.opts.Now(), Request: *in}
	if in.BarCode != "" {
		s.barcodes[in.BarCode] = in.IntegratorID
	}
	s.bookings[in.IntegratorID] = append(s.bookings[in.IntegratorID], b)
	s.order = append(s.order, b)
	s.stats.Created.Add(1)
	s.hooks.schedule(b)
	return http.StatusOK, flabs.BillingResponse{Success: true, Message: "Booking created successfully",
		IntegratorID: in.IntegratorID, PreBookingID: b.PreBookingID}
}

// validateBilling checks a billing create body against the documented
// rules (flabs-api.md §3.2) and returns the decoded request, or a message
// naming the first field that breaks a rule. The request is returned even
// when invalid if its integrator_id could be read, for fault keying.
func (s *Server) validateBilling(body []byte) (*flabs.BillingRequest, string) {
	var top map[string]json.RawMessage
	if err := json.Unmarshal(body, &top); err != nil || top == nil {
		return nil, "request body must be a JSON object"
	}
	var in flabs.BillingRequest
	in.IntegratorID, _ = optString(top, "integrator_id")
	bad := func(msg string) (*flabs.BillingRequest, string) { return &in, msg }

	pdRaw, ok := top["patient_details"]
	if !ok || isNull(pdRaw) {
		return bad("patient_details is required")
	}
	var pd map[string]json.RawMessage
	if json.Unmarshal(pdRaw, &pd) != nil || pd == nil {
		return bad("patient_details must be an object")
	}
	var msg string
	p := &in.PatientDetails
	if p.FirstName, msg = reqString(pd, "first_name", "patient_details.first_name"); msg != "" {
		return bad(msg)
	}
	if v, err := optString(pd, "last_name"); err != nil {
		return bad("patient_details.last_name must be a string")
	} else {
		p.LastName = v
	}
	if p.Gender, msg = reqEnum(pd, "gender", "patient_details.gender", flabs.GenderMale, flabs.GenderFemale, flabs.GenderOther); msg != "" {
		return bad(msg)
	}
	ageRaw, ok := pd["age"]
	if !ok || isNull(ageRaw) {
		return bad("patient_details.age is required")
	}
	var age float64
	if json.Unmarshal(ageRaw, &age) != nil || bytes.HasPrefix(bytes.TrimSpace(ageRaw), []byte(`"`)) {
		return bad("patient_details.age must be an integer")
	}
	if age != math.Trunc(age) || age < 0 || age > math.MaxInt32 {
		return bad("patient_details.age must be a non-negative integer")
	}
	p.Age = int(age)
	if p.AgeType, msg = reqEnum(pd, "age_type", "patient_details.age_type", flabs.AgeYear, flabs.AgeMonth, flabs.AgeDay); msg != "" {
		return bad(msg)
	}
	if in.IntegratorID, msg = reqString(top, "integrator_id", "integrator_id"); msg != "" {
		return bad(msg)
	}
	if in.LeadSource, msg = reqString(top, "lead_source", "lead_source"); msg != "" {
		return bad(msg)
	}
	if len(s.opts.LeadSources) > 0 && !slices.Contains(s.opts.LeadSources, in.LeadSource) {
		return bad(fmt.Sprintf("lead_source %q is not allowed for this account", in.LeadSource))
	}
	if v, err := optString(top, "labID"); err != nil {
		return bad("labID must be a string")
	} else {
		in.LabID = v
	}
	if in.LabID == "" && s.opts.RequireLabID {
		return bad("labID is required")
	}
	if in.LabID != "" && !s.knownLab(in.LabID) {
		return bad(fmt.Sprintf("labID %q is unknown", in.LabID))
	}
	if v, err := optString(top, "barCode"); err != nil {
		return bad("barCode must be a string")
	} else {
		in.BarCode = strings.TrimSpace(v)
	}
	if msg := s.validateItems(top, &in); msg != "" {
		return bad(msg)
	}
	return &in, ""
}

// validateItems checks the five test/package arrays: at least one must be
// non-empty, and every item must be well formed and, when mapped, known.
func (s *Server) validateItems(top map[string]json.RawMessage, in *flabs.BillingRequest) string {
	decode := func(key string, v any) string {
		raw, ok := top[key]
		if !ok || isNull(raw) {
			return ""
		}
		if err := json.Unmarshal(raw, v); err != nil {
			return key + " has the wrong shape: " + shapeHint(key)
		}
		return ""
	}
	for _, d := range []struct {
		key string
		v   any
	}{
		{"mapped_tests", &in.MappedTests}, {"unmapped_tests", &in.UnmappedTests},
		{"mapped_packages", &in.MappedPackages}, {"unmapped_packages", &in.UnmappedPackages},
		{"unmapped_packages_with_tests", &in.UnmappedPackagesWithTests},
	} {
		if msg := decode(d.key, d.v); msg != "" {
			return msg
		}
	}
	if len(in.MappedTests)+len(in.UnmappedTests)+len(in.MappedPackages)+len(in.UnmappedPackages)+len(in.UnmappedPackagesWithTests) == 0 {
		return "at least one of mapped_tests, unmapped_tests, mapped_packages, unmapped_packages, unmapped_packages_with_tests is required"
	}
	for i, t := range in.MappedTests {
		switch {
		case t.ID == "" && t.FlabsID == "":
			return fmt.Sprintf("mapped_tests[%d]: one of flabs_id or id is required", i)
		case t.ID != "" && t.FlabsID != "":
			return fmt.Sprintf("mapped_tests[%d]: give flabs_id or id, not both", i)
		case t.ID != "" && !slices.ContainsFunc(s.opts.Tests, func(c flabs.CatalogueItem) bool { return c.ID == t.ID }):
			return fmt.Sprintf("mapped_tests[%d].id %q is not a known test", i, t.ID)
		case t.FlabsID != "" && !slices.ContainsFunc(s.opts.Tests, func(c flabs.CatalogueItem) bool { return c.Code != "" && c.Code == t.FlabsID }):
			return fmt.Sprintf("mapped_tests[%d].flabs_id %q is not a known test", i, t.FlabsID)
		}
	}
	for i, p := range in.MappedPackages {
		switch {
		case p.ID == "":
			return fmt.Sprintf("mapped_packages[%d].id is required", i)
		case !slices.ContainsFunc(s.opts.Packages, func(c flabs.CatalogueItem) bool { return c.ID == p.ID }):
			return fmt.Sprintf("mapped_packages[%d].id %q is not a known package", i, p.ID)
		}
	}
	for i, name := range in.UnmappedTests {
		if strings.TrimSpace(name) == "" {
			return fmt.Sprintf("unmapped_tests[%d] must not be empty", i)
		}
	}
	for i, name := range in.UnmappedPackages {
		if strings.TrimSpace(name) == "" {
			return fmt.Sprintf("unmapped_packages[%d] must not be empty", i)
		}
	}
	for i, p := range in.UnmappedPackagesWithTests {
		if strings.TrimSpace(p.PackageName) == "" {
			return fmt.Sprintf("unmapped_packages_with_tests[%d].package_name is required", i)
		}
	}
	return ""
}

func shapeHint(key string) string {
	switch key {
	case "mapped_tests":
		return `want [{"flabs_id": "…"} or {"id": "…"}]`
	case "mapped_packages":
		return `want [{"id": "…"}]`
	case "unmapped_packages_with_tests":
		return `want [{"package_name": "…", "tests": ["…"]}]`
	}
	return `want ["name", …]`
}

func isNull(raw json.RawMessage) bool { return bytes.Equal(bytes.TrimSpace(raw), []byte("null")) }

// optString reads an optional string field; a wrong type is an error.
func optString(m map[string]json.RawMessage, key string) (string, error) {
	raw, ok := m[key]
	if !ok || isNull(raw) {
		return "", nil
	}
	var v string
	if err := json.Unmarshal(raw, &v); err != nil {
		return "", err
	}
	return v, nil
}

// reqString reads a required non-blank string field.
func reqString(m map[string]json.RawMessage, key, name string) (string, string) {
	v, err := optString(m, key)
	if err != nil {
		return "", name + " must be a string"
	}
	if strings.TrimSpace(v) == "" {
		return "", name + " is required"
	}
	return v, ""
}

// reqEnum reads a required string field limited to allowed values.
func reqEnum(m map[string]json.RawMessage, key, name string, allowed ...string) (string, string) {
	v, msg := reqString(m, key, name)
	if msg != "" {
		return "", msg
	}
	if !slices.Contains(allowed, v) {
		return "", fmt.Sprintf("%s must be one of %s (got %q)", name, strings.Join(allowed, ", "), v)
	}
	return v, ""
}
