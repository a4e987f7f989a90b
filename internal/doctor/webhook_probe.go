package doctor

import (
	"context"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"

	"github.com/flabsync/flabsync/internal/config"
	"github.com/flabsync/flabsync/internal/flabs"
)

// throughDoctor serves a stand-in receiver on ln (webhook.listen, with
// webhook.tls_cert when set) while it posts the test event to target,
// and checks the event arrived at webhook.path with the token: the proof
// that what Flabs will call leads to the receiver. The stand-in answers
// as the receiver would (404 off webhook.path, 401 without the token,
// 200 otherwise) but stores nothing.
func throughDoctor(ctx context.Context, cfg *config.Config, opts Options, ln net.Listener, target *url.URL) Check {
	w := cfg.Webhook
	nonce := newNonce()
	st := &standIn{cfg: w, nonce: nonce}
	srv := &http.Server{Handler: st, ReadHeaderTimeout: opts.Timeout, ReadTimeout: opts.Timeout}
	if w.TLSCert != "" {
		cert, err := tls.LoadX509KeyPair(w.TLSCert, w.TLSKey)
		if err != nil {
			ln.Close()
			return fail(NameWebhook, "webhook.tls_cert %s / webhook.tls_key %s: %v", w.TLSCert, w.TLSKey, err)
		}
		srv.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert}}
	}
	done := make(chan error, 1)
	go func() {
		if srv.TLSConfig != nil {
			done <- srv.ServeTLS(ln, "", "")
		} else {
			done <- srv.Serve(ln)
		}
	}()
	defer func() {
		srv.Close()
		<-done
	}()

	status, body, err := postTestEvent(ctx, cfg, opts, target, nonce)
	a, arrived := st.arrival()
	switch {
	case err != nil && !arrived:
		return fail(NameWebhook, "posting to %s failed: %v: check DNS, the proxy and its certificate (doctor listened on webhook.listen %s; nothing arrived)", target, err, w.Listen)
	case !arrived:
		return fail(NameWebhook, "%s answered %s, but nothing arrived on webhook.listen %s: the proxy in front does not lead here", target, answered(status, body), w.Listen)
	case a.path != w.Path:
		return fail(NameWebhook, "the test event arrived at path %s, but the receiver serves webhook.path %s: fix the proxy's path or webhook.path", a.path, w.Path)
	case !a.tokenOK:
		return fail(NameWebhook, "the test event arrived without webhook.auth_token in %s: the proxy drops or rewrites that header", w.AuthHeader)
	case err != nil:
		return fail(NameWebhook, "the test event arrived on webhook.listen %s, but the answer did not come back through %s: %v", w.Listen, target, err)
	case status != http.StatusOK:
		return fail(NameWebhook, "the test event arrived, but %s answered %s where the receiver said 200: Flabs needs the 2xx; check the proxy", target, answered(status, body))
	}
	return pass(NameWebhook, "a test event posted to %s arrived on webhook.listen %s at %s with the token (doctor listened there: nothing stored)", target, w.Listen, w.Path)
}

// standIn is the receiver's stand-in: it answers like the receiver and
// remembers the test event's arrival.
type standIn struct {
	cfg   config.Webhook
	nonce string

	mu  sync.Mutex
	got *arrived
}

type arrived struct {
	path    string
	tokenOK bool
}

func (s *standIn) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(io.LimitReader(r.Body, s.cfg.MaxBody))
	if strings.Contains(string(body), s.nonce) {
		s.mu.Lock()
		s.got = &arrived{path: r.URL.Path, tokenOK: flabs.NewTokenCheck(s.cfg.AuthToken).OK(r.Header.Get(s.cfg.AuthHeader))}
		s.mu.Unlock()
	}
	switch {
	case r.URL.Path != s.cfg.Path:
		http.NotFound(w, r)
	case r.Method != http.MethodPost:
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, `{"error": "use POST"}`, http.StatusMethodNotAllowed)
	case !flabs.NewTokenCheck(s.cfg.AuthToken).OK(r.Header.Get(s.cfg.AuthHeader)):
		http.Error(w, `{"error": "missing or wrong token"}`, http.StatusUnauthorized)
	default:
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"status": "doctor"}`+"\n")
	}
}

func (s *standIn) arrival() (arrived, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.got == nil {
		return arrived{}, false
	}
	return *s.got, true
}

var _ http.Handler = (*standIn)(nil)
