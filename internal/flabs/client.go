// Package flabs is the client for the Flabs LIS API: tokens and refresh,
// billing create, webhook subscription and the catalogue lists. It follows
// internal/flabs/flabs-api.md: written for the newer docs, tolerant of the older
// ones, and never dependent on the shape of an error body.
//
// The client does not retry on its own except for one thing: a 401 makes it
// refresh the token once and resend. Every other failure comes back as an
// *Error whose Class tells the caller (the submitter, which owns back-off
// and the rate limiter) what to do.
package flabs

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Defaults for Config fields left zero.
const (
	DefaultBaseURL = "https://v2.flabs.in"
	DefaultTimeout = 30 * time.Second
	// DefaultRefreshMargin is how long before expiry the auth token is
	// refreshed; it is cut to a fifth of the token's lifetime for short ones.
	DefaultRefreshMargin = 60 * time.Second
	// MaxBodySize bounds how much of any answer is read.
	MaxBodySize = 8 << 20
)

// UserAgent is sent with every request; cmd sets the version.
var UserAgent = "flabsync"

// Config configures a Client. Zero fields take the defaults above.
type Config struct {
	BaseURL       string        // default DefaultBaseURL
	ClientID      string        // required
	ClientSecret  string        // required
	Timeout       time.Duration // per call, default DefaultTimeout
	RefreshMargin time.Duration // default DefaultRefreshMargin
	HTTPClient    *http.Client  // default: a client with sane transport limits
	Logger        *slog.Logger  // default: discard
	Now           func() time.Time
}

// Client talks to one Flabs account. It is safe for concurrent use; token
// refreshes are shared by all callers (one refresh at a time).
type Client struct {
	base   *url.URL
	cfg    Config
	http   *http.Client
	log    *slog.Logger
	now    func() time.Time
	tokSem chan struct{} // held while reading or renewing tok
	tok    token
}

type token struct {
	auth    string
	refresh string
	expires time.Time
	gen     uint64 // bumped on every new auth token
}

// NewClient returns a Client for cfg. It fails only on a bad base URL or
// missing credentials; it does not contact Flabs.
func NewClient(cfg Config) (*Client, error) {
	if cfg.BaseURL == "" {
		cfg.BaseURL = DefaultBaseURL
	}
	u, err := url.Parse(strings.TrimRight(cfg.BaseURL, "/"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("flabs: base URL %q: want http(s)://host[:port]", cfg.BaseURL)
	}
	if cfg.ClientID == "" || cfg.ClientSecret == "" {
		return nil, errors.New("flabs: client ID and client secret are required")
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.RefreshMargin <= 0 {
		cfg.RefreshMargin = DefaultRefreshMargin
	}
	c := &Client{base: u, cfg: cfg, http: cfg.HTTPClient, log: cfg.Logger, now: cfg.Now, tokSem: make(chan struct{}, 1)}
	if c.http == nil {
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.MaxIdleConnsPerHost = 64
		c.http = &http.Client{Transport: t}
	}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	if c.now == nil {
		c.now = time.Now
	}
	return c, nil
}

// CreateBilling sends POST /client/billing/create. On success the answer
// carries the preBookingID. Errors are *Error: ClassPermanent (Flabs
// refused the booking — a 4xx such as 400 or 403, or success:false — or
// the integrator_id is over MaxIntegratorIDLen and nothing was sent),
// ClassDuplicate (409, e.g. the integrator_id exists), ClassRetryable (429,
// 5xx, timeout, connection trouble, or a 2xx that is not the documented
// answer with a preBookingID: the booking may exist; RetryAfter set when
// Flabs sent it), ClassAuth (credentials refused). A cancelled ctx returns
// ctx.Err() wrapped. The request carries patient data, so an error keeps
// none of Flabs' words (see Error).
func (c *Client) CreateBilling(ctx context.Context, req *BillingRequest) (*BillingResponse, error) {
	const op = OpBillingCreate
	if n := len(req.IntegratorID); n > MaxIntegratorIDLen {
		// Flabs might take it, but its webhooks would then be refused by
		// our receiver: never send what we could not reconcile.
		return nil, &Error{Op: op, Class: ClassPermanent,
			Message: fmt.Sprintf("integrator_id is %d bytes, over flabsync's limit of %d; not sent", n, MaxIntegratorIDLen)}
	}
	var resp BillingResponse
	status, err := c.do(ctx, op, http.MethodPost, PathBillingCreate, nil, req, &resp)
	if err != nil {
		return nil, err
	}
	if resp.PreBookingID == "" {
		// The docs promise a preBookingID with every success
		// (flabs-api.md §3.3). Without one we cannot tell what happened:
		// never counted as booked.
		return nil, &Error{Op: op, Status: status, Class: ClassRetryable, Message: "answer has no preBookingID"}
	}
	return &resp, nil
}

// Subscribe registers a webhook with POST /client/events/subscribe.
// Protocol defaults to "https". Errors as for CreateBilling.
func (c *Client) Subscribe(ctx context.Context, req *SubscribeRequest) error {
	r := *req
	if r.Protocol == "" {
		r.Protocol = "https"
	}
	_, err := c.do(ctx, "events subscribe", http.MethodPost, PathSubscribe, nil, &r, nil)
	return err
}

// Labs lists the account's branches (GET /client/labs).
func (c *Client) Labs(ctx context.Context) ([]Lab, error) {
	items, err := c.list(ctx, "list labs", PathLabs, nil)
	if err != nil {
		return nil, err
	}
	labs := make([]Lab, 0, len(items))
	for _, it := range items {
		labs = append(labs, Lab{ID: it.ID, Name: it.Name, Raw: it.Raw})
	}
	return labs, nil
}

// Tests lists the tests of a branch (GET /client/crm/tests?branchID=).
func (c *Client) Tests(ctx context.Context, branchID string) ([]CatalogueItem, error) {
	return c.list(ctx, "list tests", PathTests, url.Values{"branchID": {branchID}})
}

// Packages lists the packages of a branch (GET /client/crm/packages?branchID=).
func (c *Client) Packages(ctx context.Context, branchID string) ([]CatalogueItem, error) {
	return c.list(ctx, "list packages", PathPackages, url.Values{"branchID": {branchID}})
}

func (c *Client) list(ctx context.Context, op, path string, q url.Values) ([]CatalogueItem, error) {
	var raw json.RawMessage
	if _, err := c.do(ctx, op, http.MethodGet, path, q, nil, &raw); err != nil {
		return nil, err
	}
	items, skipped, err := decodeCatalogue(raw)
	if err != nil {
		return nil, &Error{Op: op, Class: ClassPermanent, Message: err.Error()}
	}
	if skipped > 0 {
		c.log.Warn("flabs list: items without an id skipped", "op", op, "skipped", skipped)
	}
	return items, nil
}

// do sends one authenticated call, refreshing the token once on a 401,
// and returns the HTTP status of the answer decoded into out.
func (c *Client) do(ctx context.Context, op, method, path string, q url.Values, in, out any) (int, error) {
	var body []byte
	if in != nil {
		var err error
		if body, err = json.Marshal(in); err != nil {
			return 0, fmt.Errorf("flabs %s: encode request: %w", op, err)
		}
	}
	for attempt := 1; ; attempt++ {
		auth, gen, err := c.authToken(ctx)
		if err != nil {
			return 0, err
		}
		status, hdr, respBody, err := c.send(ctx, op, method, path, q, body, auth)
		if err != nil {
			return 0, err
		}
		if status == http.StatusUnauthorized && attempt == 1 {
			c.log.Info("flabs: auth token refused, refreshing", "op", op)
			if err := c.expire(ctx, gen); err != nil {
				return 0, err
			}
			continue
		}
		return status, c.decode(op, status, hdr, respBody, out)
	}
}

// send does one HTTP exchange with the per-call timeout. A transport
// failure becomes a retryable *Error, unless ctx itself is done.
func (c *Client) send(ctx context.Context, op, method, path string, q url.Values, body []byte, auth string) (int, http.Header, []byte, error) {
	u := *c.base
	u.Path += path
	if q != nil {
		u.RawQuery = q.Encode()
	}
	cctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(cctx, method, u.String(), rd)
	if err != nil {
		return 0, nil, nil, fmt.Errorf("flabs %s: %w", op, err)
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", UserAgent)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if auth != "" {
		req.Header.Set("Authorization", "Bearer "+auth)
	}
	start := c.now()
	resp, err := c.http.Do(req)
	if err == nil {
		var b []byte
		b, err = io.ReadAll(io.LimitReader(resp.Body, MaxBodySize))
		resp.Body.Close()
		if err == nil {
			c.log.Debug("flabs call", "op", op, "status", resp.StatusCode, "ms", c.now().Sub(start).Milliseconds())
			return resp.StatusCode, resp.Header, b, nil
		}
	}
	if ctx.Err() != nil {
		return 0, nil, nil, fmt.Errorf("flabs %s: %w", op, ctx.Err())
	}
	if cctx.Err() != nil {
		err = fmt.Errorf("no answer within %s: %w", c.cfg.Timeout, context.DeadlineExceeded)
	}
	return 0, nil, nil, &Error{Op: op, Class: ClassRetryable, Err: stripURL(err)}
}

// OpBillingCreate is Error.Op of a billing create: the one call whose
// request carries patient data.
const OpBillingCreate = "billing create"

// carriesPatient reports whether op's request holds patient data, so
// that Flabs' answer to it may echo some: its words are then not kept.
func carriesPatient(op string) bool { return op == OpBillingCreate }

// decode turns an answer into out or an *Error. The class comes from the
// status and the answer's shape alone, never from its words.
func (c *Client) decode(op string, status int, hdr http.Header, body []byte, out any) error {
	var env Envelope
	jsonErr := json.Unmarshal(body, &env)
	if status < 200 || status > 299 {
		return &Error{Op: op, Status: status, Class: classify(status), Code: errorCode(env, jsonErr),
			Message: message(op, env, jsonErr, body), RetryAfter: parseRetryAfter(hdr.Get("Retry-After"), c.now())}
	}
	if jsonErr == nil && env.Success != nil && !*env.Success {
		return &Error{Op: op, Status: status, Class: ClassPermanent, Code: errorCode(env, nil), Message: message(op, env, nil, body)}
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(body, out); err != nil {
		// A 2xx we cannot read (empty, HTML from a proxy, cut short) is no
		// refusal: the request may well have done its work. Retryable, so
		// a billing create is treated as maybe booked. The decoder's error
		// is left out: it may quote the body.
		m := "undecodable answer"
		if !carriesPatient(op) {
			m += ": " + excerpt(body)
		}
		return &Error{Op: op, Status: status, Class: ClassRetryable, Message: m, Err: errUndecodable}
	}
	return nil
}

// errUndecodable is Error.Err of a 2xx answer that could not be read.
var errUndecodable = errors.New("not the JSON answer the docs describe")

// message picks Flabs' message from a body, or a short excerpt of it;
// nothing for a call whose request carries patient data.
func message(op string, env Envelope, jsonErr error, body []byte) string {
	if carriesPatient(op) {
		return ""
	}
	if jsonErr == nil && env.Message != "" {
		return env.Message
	}
	return excerpt(body)
}

// errorCode is Flabs' error code from an answer's body, if it has a short
// one made of letters, digits, '_', '.' and '-' (a number too); anything
// else could be words, and is not kept.
func errorCode(env Envelope, jsonErr error) string {
	if jsonErr != nil {
		return ""
	}
	for _, raw := range []json.RawMessage{env.Code, env.ErrorCode, env.ErrorCodeSnake} {
		var s string
		if json.Unmarshal(raw, &s) != nil {
			var n json.Number
			if json.Unmarshal(raw, &n) != nil {
				continue
			}
			s = n.String()
		}
		if isCode(s) {
			return s
		}
	}
	return ""
}

func isCode(s string) bool {
	if s == "" || len(s) > 32 {
		return false
	}
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '_', r == '.', r == '-':
		default:
			return false
		}
	}
	return true
}

func excerpt(b []byte) string {
	s := strings.TrimSpace(string(b))
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return s
}

// stripURL drops the URL from a *url.Error: it adds nothing for the user
// and the query may carry IDs.
func stripURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}
