package doctor

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"net/url"
	"strings"
	"syscall"
	"time"

	"github.com/flabsync/flabsync/internal/config"
)

// TestEventType is the eventType of the test event doctor posts. The
// receiver stores an event of a type the docs do not name without folding
// it: it makes no booking state, and with no bill ID and no integrator ID
// no nightly rule lists it (not even as a bill made in Flabs).
const TestEventType = "flabsync.doctor"

// checkWebhook checks the receiver's address and, with a public URL, the
// way in from Flabs:
//
//   - webhook.listen free: it can be bound. With PublicURL, doctor itself
//     listens there for the length of the check and posts a test event
//     to PublicURL, which must arrive at webhook.path with the token:
//     that proves DNS, TLS and the proxy in front.
//   - webhook.listen taken: it must answer like flabsync's receiver (405
//     with Allow: POST to a GET: a running serve or webhooks listen).
//     With PublicURL the test event goes through to that receiver, which
//     must answer 200 (it stores the event; see TestEventType).
//
// Serve refuses to start without webhook.auth_token (unless
// webhook.allow_unauthenticated), so that fails here too.
func checkWebhook(ctx context.Context, cfg *config.Config, opts Options) Check {
	w := cfg.Webhook
	if err := cfg.RequireWebhookAuth(); err != nil {
		return fail(NameWebhook, "serve and webhooks listen will refuse to start: %v", err)
	}
	var warnings []string
	if w.AuthToken == "" {
		warnings = append(warnings, "webhook.allow_unauthenticated is on: the receiver stores whatever anyone posts")
	}
	if _, port, _ := net.SplitHostPort(w.Listen); port == "0" {
		warnings = append(warnings, "webhook.listen has port 0: a new port at every start, which no proxy can follow")
	}
	var target *url.URL
	if opts.PublicURL != "" {
		var err error
		if target, err = PublicURL(opts.PublicURL, w.Path); err != nil {
			return fail(NameWebhook, "%v", err)
		}
		if target.Scheme != "https" {
			warnings = append(warnings, "the public URL is not https: Flabs delivers only to https endpoints")
		}
	}
	ln, err := net.Listen("tcp", w.Listen)
	switch {
	case err == nil && target == nil:
		ln.Close()
		return withWarnings(pass(NameWebhook, "webhook.listen %s is free for the receiver; --public-url tests the way in from Flabs", w.Listen), warnings)
	case err == nil:
		return withWarnings(throughDoctor(ctx, cfg, opts, ln, target), warnings)
	case !errors.Is(err, syscall.EADDRINUSE):
		return fail(NameWebhook, "cannot listen on webhook.listen %s: %v: use an address of this machine and a port this user may open", w.Listen, unwrapNet(err))
	}
	if err := probeRunning(ctx, cfg); err != nil {
		return fail(NameWebhook, "webhook.listen %s is taken, and not by a flabsync receiver (%v): stop what listens there or choose another webhook.listen", w.Listen, err)
	}
	if target == nil {
		return withWarnings(pass(NameWebhook, "a running flabsync receiver answers on webhook.listen %s (serve or webhooks listen); --public-url tests the way in from Flabs", w.Listen), warnings)
	}
	return withWarnings(throughRunning(ctx, cfg, opts, target), warnings)
}

// PublicURL parses the URL Flabs posts to (what `webhooks subscribe
// --endpoint` registers). One without a path gets path (webhook.path).
func PublicURL(raw, path string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("public URL %q: want https://host[:port]/path, the URL Flabs posts webhooks to", raw)
	}
	if u.Path == "" || u.Path == "/" {
		u.Path = path
	}
	return u, nil
}

// throughRunning posts the test event through target to the receiver
// already running on webhook.listen, and reads its answer.
func throughRunning(ctx context.Context, cfg *config.Config, opts Options, target *url.URL) Check {
	status, body, err := postTestEvent(ctx, cfg, opts, target, newNonce())
	if err != nil {
		return fail(NameWebhook, "a flabsync receiver runs on webhook.listen %s, but posting to %s failed: %v: check DNS, the proxy and its certificate", cfg.Webhook.Listen, target, err)
	}
	switch status {
	case http.StatusOK:
		return pass(NameWebhook, "a test event posted to %s reached the running receiver on webhook.listen %s, which answered %s", target, cfg.Webhook.Listen, answered(status, body))
	case http.StatusUnauthorized:
		return fail(NameWebhook, "%s answered 401: the receiver did not get webhook.auth_token in %s; the running serve uses another token than this config, or the proxy drops that header", target, cfg.Webhook.AuthHeader)
	case http.StatusNotFound:
		return fail(NameWebhook, "%s answered 404: the proxy does not lead to webhook.path %s", target, cfg.Webhook.Path)
	case http.StatusServiceUnavailable:
		return fail(NameWebhook, "%s answered %s: the receiver could not store the event; check its database", target, answered(status, body))
	}
	return fail(NameWebhook, "%s answered %s: Flabs needs a 2xx; is the proxy in front sending it elsewhere?", target, answered(status, body))
}

// answered writes an HTTP answer for a person: "502 Bad Gateway", and
// what the body said when it said something.
func answered(status int, body string) string {
	s := fmt.Sprintf("%d %s", status, http.StatusText(status))
	if body != "" {
		s += " (" + body + ")"
	}
	return s
}

// probeRunning checks that what listens on webhook.listen answers a GET
// like flabsync's receiver: 405, Allow: POST, a JSON {"error": …}.
func probeRunning(ctx context.Context, cfg *config.Config) error {
	host, port, err := net.SplitHostPort(cfg.Webhook.Listen)
	if err != nil {
		return err
	}
	switch host {
	case "", "0.0.0.0":
		host = "127.0.0.1"
	case "::":
		host = "::1"
	}
	scheme := "http"
	if cfg.Webhook.TLSCert != "" {
		scheme = "https"
	}
	u := scheme + "://" + net.JoinHostPort(host, port) + cfg.Webhook.Path
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	tr := &http.Transport{
		// Only recognising our own receiver on this machine: its
		// certificate is for the public name, not for this address.
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true},
	}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		return unwrapNet(err)
	}
	defer resp.Body.Close()
	var answer struct {
		Error string `json:"error"`
	}
	mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	jsonErr := json.NewDecoder(io.LimitReader(resp.Body, 4096)).Decode(&answer)
	if resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") != http.MethodPost || mt != "application/json" || jsonErr != nil || answer.Error == "" {
		return fmt.Errorf("GET %s answered %d %s", cfg.Webhook.Path, resp.StatusCode, http.StatusText(resp.StatusCode))
	}
	return nil
}

// testEvent is the body doctor posts: a well-formed event of a type
// flabsync stores but never folds (TestEventType), carrying nonce so its
// arrival can be recognised.
func testEvent(cfg *config.Config, nonce string) []byte {
	ev := map[string]any{
		"eventType": TestEventType,
		"eventTime": time.Now().Unix(),
		"data":      map[string]string{"note": "test event from flabsync doctor; nothing to do", "nonce": nonce},
	}
	if cfg.Flabs.LabID != "" {
		ev["labID"] = cfg.Flabs.LabID
	}
	b, _ := json.Marshal(ev) // cannot fail: strings and an integer
	return b
}

// postTestEvent posts the test event to target as Flabs would, with the
// token in webhook.auth_header, and returns the answer's status and a
// short excerpt of its body.
func postTestEvent(ctx context.Context, cfg *config.Config, opts Options, target *url.URL, nonce string) (int, string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target.String(), strings.NewReader(string(testEvent(cfg, nonce))))
	if err != nil {
		return 0, "", err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "flabsync-doctor")
	if cfg.Webhook.AuthToken != "" {
		req.Header.Set(cfg.Webhook.AuthHeader, "Bearer "+cfg.Webhook.AuthToken)
	}
	c := http.Client{Timeout: opts.Timeout}
	if opts.HTTPClient != nil {
		c = *opts.HTTPClient
	}
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := c.Do(req)
	if err != nil {
		return 0, "", unwrapNet(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 200))
	body := strings.TrimSpace(string(b))
	var answer struct{ Status, Error string }
	if json.Unmarshal(b, &answer) == nil && answer.Status+answer.Error != "" {
		body = answer.Status + answer.Error // the receiver's answers carry one of them
	}
	if loc := resp.Header.Get("Location"); loc != "" {
		body += " redirect to " + loc + ": give Flabs the final URL"
	}
	return resp.StatusCode, body, nil
}

func newNonce() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b) // never fails (crypto/rand)
	return hex.EncodeToString(b)
}

// unwrapNet drops the URL of a *url.Error, keeping the cause.
func unwrapNet(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}
