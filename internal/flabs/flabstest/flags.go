package flabstest

import (
	"errors"
	"flag"
	"fmt"
	"strings"
)

// RegisterFlags registers every knob of the simulator on fs (`flabsync
// sim`'s flags) and returns the function that, once fs is parsed, checks
// them and builds the Options.
func RegisterFlags(fs *flag.FlagSet) func() (*Options, error) {
	o := &Options{}
	fs.StringVar(&o.ClientID, "client-id", DefaultClientID, "accepted client ID")
	fs.StringVar(&o.ClientSecret, "client-secret", DefaultClientSecret, "accepted client secret")
	fs.DurationVar(&o.TokenTTL, "token-ttl", DefaultTokenTTL, "auth token lifetime")
	fs.BoolVar(&o.KeepRefreshToken, "keep-refresh-token", false, "refresh returns the same refresh token instead of rotating it")
	dup := fs.String("duplicate", string(DuplicateReject), "repeated integrator_id: reject (409), accept (book again), replay (200, same preBookingID), ok-false (200, success:false)")
	errStyle := fs.String("error-style", string(ErrorJSON), "error bodies: json, text, ok-false (validation errors as 200 + success:false)")
	fs.IntVar(&o.BarcodeConflictStatus, "barcode-conflict-status", 400, "status for a reused barCode (400 or 409)")
	fs.BoolVar(&o.RequireLabID, "require-lab-id", false, "billing create and subscribe require labID")
	leadSources := fs.String("lead-sources", "", "comma-separated accepted lead_source values (default: any)")
	forbidden := fs.String("forbidden-lead-sources", "", "comma-separated lead_source values answered 403 (this account may not book under them)")
	fs.BoolVar(&o.PartyScoped, "party-scoped", false, "the account is party-scoped (webhook subscriptions need a party)")
	fs.BoolVar(&o.AllowHTTPWebhooks, "allow-http-webhooks", true, "accept http:// webhook endpoints (local use; Flabs requires https)")
	fs.DurationVar(&o.Latency, "latency", 0, "added to every answer")
	fs.DurationVar(&o.LatencyJitter, "latency-jitter", 0, "plus up to this much")
	fs.Float64Var(&o.FailRate, "fail-rate", 0, "share of calls answered 503")
	fs.Float64Var(&o.TimeoutRate, "timeout-rate", 0, "share of calls that hang (billing creates are booked first)")
	fs.DurationVar(&o.HangFor, "hang-for", DefaultHangFor, "how long a hung call hangs")
	fs.Float64Var(&o.DropRate, "drop-rate", 0, "share of connections closed unanswered")
	fs.Float64Var(&o.RateLimit, "rate-limit", 0, "requests per second before 429 (0 = unlimited)")
	fs.IntVar(&o.RateBurst, "burst", 0, "rate limit burst (default: the rate)")
	fs.DurationVar(&o.RetryAfter, "retry-after", 0, "Retry-After on 429 (default: until a slot is free)")
	fs.Int64Var(&o.Seed, "seed", 1, "seed for every random choice")
	w := &o.Webhooks
	fs.StringVar(&w.URL, "webhook-url", "", "send webhooks here instead of the subscribed endpoint")
	fs.StringVar(&w.AuthToken, "webhook-token", "", "token sent with webhooks (default: the one given at subscribe)")
	fs.StringVar(&w.Header, "webhook-header", "Authorization", "header carrying the webhook token")
	fs.StringVar(&w.Scheme, "webhook-scheme", "Bearer ", `prefix of the token value; "-" for none`)
	fs.Float64Var(&w.Speed, "speed", 1, "webhook clock speed-up (3600 = an hour a second)")
	fs.DurationVar(&w.CreatedAfter, "bill-created-after", DefaultCreatedAfter, "booking → bill.created")
	fs.DurationVar(&w.ReportEvery, "report-every", DefaultReportEvery, "gap between report.completed events")
	fs.DurationVar(&w.CompletedAfter, "bill-completed-after", DefaultCompletedAfter, "last report → bill.completed")
	fs.Float64Var(&w.NoBillRate, "no-bill-rate", 0, "share of bookings that never get a bill")
	fs.Float64Var(&w.DeleteRate, "delete-rate", 0, "share of bills deleted")
	fs.Float64Var(&w.StallRate, "stall-rate", 0, "share of bills never completed")
	fs.Float64Var(&w.MissingReportRate, "missing-report-rate", 0, "share of bills with one report fewer than tests sent")
	fs.Float64Var(&w.DropRate, "webhook-drop-rate", 0, "share of webhook deliveries never sent")
	fs.Float64Var(&w.DuplicateRate, "webhook-duplicate-rate", 0, "share of webhook deliveries sent twice")
	fs.Float64Var(&w.ReorderRate, "webhook-reorder-rate", 0, "share of webhook deliveries held back past later ones")
	return func() (*Options, error) {
		switch d := DuplicateMode(*dup); d {
		case DuplicateReject, DuplicateAccept, DuplicateReplay, DuplicateOKFalse:
			o.Duplicate = d
		default:
			return nil, fmt.Errorf("--duplicate %q: want reject, accept, replay or ok-false", *dup)
		}
		switch e := ErrorStyle(*errStyle); e {
		case ErrorJSON, ErrorText, ErrorOKFalse:
			o.ErrorStyle = e
		default:
			return nil, fmt.Errorf("--error-style %q: want json, text or ok-false", *errStyle)
		}
		for _, r := range []struct {
			name string
			v    float64
		}{{"fail-rate", o.FailRate}, {"timeout-rate", o.TimeoutRate}, {"drop-rate", o.DropRate},
			{"no-bill-rate", w.NoBillRate}, {"delete-rate", w.DeleteRate}, {"stall-rate", w.StallRate},
			{"missing-report-rate", w.MissingReportRate}, {"webhook-drop-rate", w.DropRate},
			{"webhook-duplicate-rate", w.DuplicateRate}, {"webhook-reorder-rate", w.ReorderRate}} {
			if r.v < 0 || r.v > 1 {
				return nil, fmt.Errorf("--%s %v: want a share between 0 and 1", r.name, r.v)
			}
		}
		if o.FailRate+o.TimeoutRate+o.DropRate > 1 {
			return nil, errors.New("--fail-rate + --timeout-rate + --drop-rate is more than 1")
		}
		o.ForbiddenLeadSources = splitList(*forbidden)
		o.LeadSources = splitList(*leadSources)
		return o, nil
	}
}

// splitList splits a comma-separated flag value, dropping blanks.
func splitList(v string) []string {
	var out []string
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}
