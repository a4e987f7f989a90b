package flabstest

import (
	"log/slog"
	"net/http"
	"time"

	"github.com/flabsync/flabsync/internal/flabs"
)

// DuplicateMode is how billing create answers an integrator_id it has
// already booked. The docs say nothing (flabs-api.md §3.3).
type DuplicateMode string

const (
	// DuplicateReject answers 409 "integrator_id already exists" (default).
	DuplicateReject DuplicateMode = "reject"
	// DuplicateAccept books it again under a new preBookingID and bill: a
	// double booking, which the nightly reconciliation must catch.
	DuplicateAccept DuplicateMode = "accept"
	// DuplicateReplay answers 200 with the first booking's preBookingID.
	DuplicateReplay DuplicateMode = "replay"
	// DuplicateOKFalse answers HTTP 200 {"success":false,"message":
	// "Something went wrong"}: a refusal whose words name nothing.
	DuplicateOKFalse DuplicateMode = "ok-false"
)

// ErrorStyle is how the simulator shapes error answers. The docs show no
// error body at all.
type ErrorStyle string

const (
	// ErrorJSON answers {"success":false,"message":…} with the status (default).
	ErrorJSON ErrorStyle = "json"
	// ErrorText answers a plain-text message with the status.
	ErrorText ErrorStyle = "text"
	// ErrorOKFalse answers validation failures with HTTP 200 and
	// {"success":false,…}, as some APIs of this style do.
	ErrorOKFalse ErrorStyle = "ok-false"
)

// Defaults for Options fields left zero.
const (
	DefaultClientID       = "demo"
	DefaultClientSecret   = "demo"
	DefaultTokenTTL       = 600 * time.Second
	DefaultRetryAfter     = time.Second
	DefaultHangFor        = 2 * time.Minute
	DefaultCreatedAfter   = 2 * time.Minute
	DefaultReportEvery    = 20 * time.Minute
	DefaultCompletedAfter = 5 * time.Minute
	DefaultDeletedAfter   = 30 * time.Minute
)

// Options configure a Server. The zero value is a well-behaved Flabs with
// the defaults of flabs-api.md: no faults, no rate limit, 409 on a
// repeated integrator_id, JSON error bodies, 10-minute tokens.
type Options struct {
	ClientID     string        // accepted client ID, default "demo"
	ClientSecret string        // accepted client secret, default "demo"
	TokenTTL     time.Duration // auth token lifetime, default 600 s
	// KeepRefreshToken makes refresh return the same refresh token instead
	// of rotating it (default: rotate; the used one stops working).
	KeepRefreshToken bool
	// Now is the simulator's wall clock for token expiry (default time.Now);
	// share one fake clock with the client to test expiry without sleeping.
	Now func() time.Time

	Duplicate DuplicateMode // repeated integrator_id, default DuplicateReject
	// BarcodeConflictStatus is the status for a barCode already used,
	// default 400 (the docs only say it must be unique).
	BarcodeConflictStatus int
	ErrorStyle            ErrorStyle // default ErrorJSON
	RequireLabID          bool       // billing and subscribe require labID
	// LeadSources lists the accepted lead_source values; empty accepts any
	// non-empty value.
	LeadSources []string
	// ForbiddenLeadSources lists lead_source values Flabs knows but this
	// account may not book under — say a partner whose agreement with the
	// lab has lapsed. A billing create that passes validation with one of
	// them is answered 403 `lead_source "<value>" is forbidden for this
	// account` (in the ErrorStyle's body; ErrorOKFalse keeps the 403) and
	// nothing is booked. The docs show no 403 anywhere: this models a
	// refusal of one booking, not of the credentials, which other bookings
	// of the same account do not share. Empty: no 403s.
	ForbiddenLeadSources []string
	// EchoPatient makes every refusal of a billing create quote the
	// patient's name and age back (`… (patient "Asha Rao", 34 year)`), as
	// an LIS echoing the request may: what flabsync keeps of a refusal
	// must not carry it.
	EchoPatient bool
	// PartyScoped makes the account party-scoped for webhook subscriptions
	// (flabs-api.md §4.1 party rules).
	PartyScoped bool
	// AllowHTTPWebhooks accepts http:// webhook endpoints (for local demos;
	// the docs require https).
	AllowHTTPWebhooks bool

	Labs     []flabs.Lab           // default: one lab, "Main Lab"
	Tests    []flabs.CatalogueItem // default: DefaultTests
	Packages []flabs.CatalogueItem // default: DefaultPackages

	// Faults, applied to every endpoint but the two token endpoints.
	Latency       time.Duration // added to every answer
	LatencyJitter time.Duration // plus up to this much, seeded
	FailRate      float64       // share answered 503 before any processing
	// TimeoutRate is the share whose answer never comes: a billing create
	// is booked first and then hangs (the client cannot know it went
	// through), until the client gives up or HangFor passes.
	TimeoutRate float64
	HangFor     time.Duration // default 2 min
	DropRate    float64       // share whose connection is closed unanswered, before processing
	RateLimit   float64       // requests per second; 0 = unlimited
	RateBurst   int           // default max(1, RateLimit)
	RetryAfter  time.Duration // Retry-After on 429; default: until a token is free, at least 1 s

	Seed int64 // seeds every random choice; same seed, same decisions
	// FaultScript, when set, replaces the fault rates: the fault of each
	// call is FaultScript[key] ("fail", "drop", "timeout" or "" for
	// none), key being "<integrator_id>#<n>" for the n-th billing create
	// of that integrator_id. For tests that need one exact sequence.
	FaultScript map[string]string

	Webhooks WebhookOptions
	Logger   *slog.Logger // default: discard
}

// WebhookOptions shape the webhook timeline of each booking and its
// delivery. Delays are in simulated time; see Speed and Manual.
type WebhookOptions struct {
	// URL receives the deliveries when set; otherwise the endpoint of the
	// latest subscription covering the event.
	URL string
	// AuthToken is sent with each delivery when set; otherwise the
	// authToken given at subscription (old docs), if any.
	AuthToken string
	Header    string // header carrying the token, default "Authorization"
	Scheme    string // prefix of the token value, default "Bearer "; "-" for none
	// Client sends the deliveries; default a client with a 10 s timeout.
	// Set it to ServePipe's client to deliver inside a synctest bubble.
	Client *http.Client

	CreatedAfter   time.Duration // booking → bill.created, default 2 min
	ReportEvery    time.Duration // gap between report.completed, default 20 min
	CompletedAfter time.Duration // last report → bill.completed, default 5 min
	DeletedAfter   time.Duration // bill.created → bill.deleted, default 30 min

	NoBillRate        float64 // share of bookings that never get a bill
	DeleteRate        float64 // share of bills deleted (no reports follow)
	StallRate         float64 // share of bills never completed (half their reports come)
	MissingReportRate float64 // share of bills with one report fewer than tests sent

	DropRate      float64 // share of deliveries never sent
	DuplicateRate float64 // share of deliveries sent twice
	ReorderRate   float64 // share of deliveries held back past later ones

	// Speed runs the timeline faster than real time (e.g. 3600: an hour a
	// second). Default 1. Ignored when Manual.
	Speed float64
	// Manual stops the background dispatcher: events are delivered only by
	// Advance, on a simulated clock that starts at Start. For tests.
	Manual bool
	Start  time.Time // start of the simulated clock, default Now()
}

func (o *Options) setDefaults() {
	if o.ClientID == "" {
		o.ClientID = DefaultClientID
	}
	if o.ClientSecret == "" {
		o.ClientSecret = DefaultClientSecret
	}
	if o.TokenTTL <= 0 {
		o.TokenTTL = DefaultTokenTTL
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Duplicate == "" {
		o.Duplicate = DuplicateReject
	}
	if o.BarcodeConflictStatus == 0 {
		o.BarcodeConflictStatus = 400
	}
	if o.ErrorStyle == "" {
		o.ErrorStyle = ErrorJSON
	}
	if o.Labs == nil {
		o.Labs = []flabs.Lab{{ID: "6530a4a6f1d2c8b7e9a12345", Name: "Main Lab"}}
	}
	if o.Tests == nil {
		o.Tests = DefaultTests()
	}
	if o.Packages == nil {
		o.Packages = DefaultPackages()
	}
	if o.HangFor <= 0 {
		o.HangFor = DefaultHangFor
	}
	if o.RateLimit > 0 && o.RateBurst <= 0 {
		o.RateBurst = max(1, int(o.RateLimit))
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	w := &o.Webhooks
	if w.Header == "" {
		w.Header = "Authorization"
	}
	if w.Scheme == "" {
		w.Scheme = "Bearer "
	} else if w.Scheme == "-" {
		w.Scheme = ""
	}
	if w.CreatedAfter <= 0 {
		w.CreatedAfter = DefaultCreatedAfter
	}
	if w.ReportEvery <= 0 {
		w.ReportEvery = DefaultReportEvery
	}
	if w.CompletedAfter <= 0 {
		w.CompletedAfter = DefaultCompletedAfter
	}
	if w.DeletedAfter <= 0 {
		w.DeletedAfter = DefaultDeletedAfter
	}
	if w.Client == nil {
		w.Client = &http.Client{Timeout: 10 * time.Second}
	}
	if w.Speed <= 0 {
		w.Speed = 1
	}
	if w.Start.IsZero() {
		w.Start = o.Now()
	}
}
