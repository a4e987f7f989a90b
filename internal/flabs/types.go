package flabs

import (
	"encoding/json"
	"time"
)

// Paths of the documented client endpoints (flabs-api.md). All live under
// /client on the base URL.
const (
	PathToken         = "/client/auth/token"
	PathTokenRefresh  = "/client/auth/token/refresh"
	PathBillingCreate = "/client/billing/create"
	PathSubscribe     = "/client/events/subscribe"
	PathLabs          = "/client/labs"
	PathTests         = "/client/crm/tests"
	PathPackages      = "/client/crm/packages"
)

// Genders and age units accepted by billing create, as documented.
const (
	GenderMale   = "male"
	GenderFemale = "female"
	GenderOther  = "other"

	AgeYear  = "year"
	AgeMonth = "month"
	AgeDay   = "day"
)

// Webhook event types (flabs-api.md §4.1).
const (
	EventBillCreated     = "bill.created"
	EventBillCompleted   = "bill.completed"
	EventBillDeleted     = "bill.deleted"
	EventReportCompleted = "report.completed"
	EventLeadCreated     = "lead.created"
	EventBookingCreated  = "booking.created"
)

// BillEvents are the events flabsync subscribes to by default.
var BillEvents = []string{EventBillCreated, EventReportCompleted, EventBillCompleted, EventBillDeleted}

// TokenRequest is the body of POST /client/auth/token. The secret's field
// name is inferred, not documented (flabs-api.md §2.2).
type TokenRequest struct {
	ClientID     string `json:"clientID"`
	ClientSecret string `json:"clientSecret"`
}

// RefreshRequest is the body of POST /client/auth/token/refresh.
type RefreshRequest struct {
	ClientID     string `json:"clientID"`
	RefreshToken string `json:"refreshToken"`
}

// TokenResponse is the answer of both token endpoints.
type TokenResponse struct {
	AuthToken    string `json:"authToken"`
	RefreshToken string `json:"refreshToken"`
	ExpiresIn    int    `json:"expiresIn"` // seconds; 600 in the docs
}

// PatientDetails is the patient block of a billing request.
type PatientDetails struct {
	FirstName string `json:"first_name"`
	LastName  string `json:"last_name,omitempty"`
	Gender    string `json:"gender"`
	Age       int    `json:"age"`
	AgeType   string `json:"age_type"`
}

// MappedTest is one item of mapped_tests: exactly one of ID and FlabsID is
// set (the docs accept either key per item).
type MappedTest struct {
	FlabsID string `json:"flabs_id,omitempty"`
	ID      string `json:"id,omitempty"`
}

// MappedPackage is one item of mapped_packages (packages have only "id").
type MappedPackage struct {
	ID string `json:"id"`
}

// UnmappedPackageWithTests is one item of unmapped_packages_with_tests.
type UnmappedPackageWithTests struct {
	PackageName string   `json:"package_name"`
	Tests       []string `json:"tests"`
}

// BillingRequest is the body of POST /client/billing/create (flabs-api.md §3.2).
type BillingRequest struct {
	LabID                     string                     `json:"labID,omitempty"`
	PatientDetails            PatientDetails             `json:"patient_details"`
	IntegratorID              string                     `json:"integrator_id"`
	LeadSource                string                     `json:"lead_source"`
	MappedTests               []MappedTest               `json:"mapped_tests,omitempty"`
	UnmappedTests             []string                   `json:"unmapped_tests,omitempty"`
	MappedPackages            []MappedPackage            `json:"mapped_packages,omitempty"`
	UnmappedPackages          []string                   `json:"unmapped_packages,omitempty"`
	UnmappedPackagesWithTests []UnmappedPackageWithTests `json:"unmapped_packages_with_tests,omitempty"`
	BarCode                   string                     `json:"barCode,omitempty"`
}

// BillingResponse is the 200 answer of billing create.
type BillingResponse struct {
	Success      bool   `json:"success"`
	Message      string `json:"message"`
	IntegratorID string `json:"integrator_id"`
	PreBookingID string `json:"preBookingID"`
}

// SubscribeRequest is the body of POST /client/events/subscribe. It carries
// the fields of both doc snapshots: LabID and the party fields (new) and
// AuthToken (old, still sent when set).
type SubscribeRequest struct {
	LabID         string   `json:"labID,omitempty"`
	Events        []string `json:"events"`
	Endpoint      string   `json:"endpoint"`
	Protocol      string   `json:"protocol"`
	AuthToken     string   `json:"authToken,omitempty"`
	CorporateUser string   `json:"corporateUser,omitempty"`
	Organization  string   `json:"organization,omitempty"`
}

// Envelope is the documented success/failure wrapper of Flabs answers.
type Envelope struct {
	Success *bool  `json:"success,omitempty"`
	Message string `json:"message,omitempty"`
	// An error code, under any of the names APIs of this style use; the
	// docs show no error body (flabs-api.md §3.3).
	Code           json.RawMessage `json:"code,omitempty"`
	ErrorCode      json.RawMessage `json:"errorCode,omitempty"`
	ErrorCodeSnake json.RawMessage `json:"error_code,omitempty"`
}

// Lab is one branch from GET /client/labs. Its ID is what billing and
// webhooks call labID and the CRM calls branchID.
type Lab struct {
	ID   string          `json:"id"`
	Name string          `json:"name"`
	Raw  json.RawMessage `json:"raw,omitempty"`
}

// CatalogueItem is one test or package from the CRM lists. Only the price
// field names are documented (cost for tests, total for packages); the rest
// is decoded tolerantly and the whole item is kept in Raw.
type CatalogueItem struct {
	ID   string          `json:"id"`
	Code string          `json:"code,omitempty"`
	Name string          `json:"name"`
	Cost float64         `json:"cost,omitempty"`
	Raw  json.RawMessage `json:"raw,omitempty"`
}

// Event is a webhook delivery for bill and report events (flabs-api.md §4.3).
type Event struct {
	LabID     string    `json:"labID"`
	EventType string    `json:"eventType"`
	EventTime int64     `json:"eventTime"` // Unix seconds
	Data      EventData `json:"data"`
}

// Time returns EventTime as a time.Time.
func (e *Event) Time() time.Time { return time.Unix(e.EventTime, 0).UTC() }

// EventData is the data block of a webhook delivery.
type EventData struct {
	BillID       string   `json:"billID"`
	IntegratorID string   `json:"integratorID"`
	BillData     BillData `json:"billData"`
	ReportURL    string   `json:"reportURL,omitempty"`
}

// BillData is the bill snapshot inside a webhook delivery. Statuses are
// opaque strings: only "completed" is documented.
type BillData struct {
	Status   string       `json:"status"`
	TestData []TestStatus `json:"testData"`
}

// TestStatus is one test/report inside a bill.
type TestStatus struct {
	ID     string `json:"_id"`
	Status string `json:"status"`
}

// MaxIntegratorIDLen is the longest integrator ID flabsync sends, in
// bytes. flabs-api.md documents no limit on integrator_id; this one is
// ours, shared by the sheet pipeline (a row whose ID would be longer is
// rejected), CreateBilling (which refuses to send one) and the webhook
// receiver (which refuses a data.integratorID over it), so that whatever
// is booked can be reconciled from its webhooks.
const MaxIntegratorIDLen = 256
