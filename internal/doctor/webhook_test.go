package doctor_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/flabsync/flabsync/internal/doctor"
	"github.com/flabsync/flabsync/internal/flabs/flabstest"
	"github.com/flabsync/flabsync/internal/mail/mailtest"
	"github.com/flabsync/flabsync/internal/store"
	"github.com/flabsync/flabsync/reconcile/rules"
	"github.com/flabsync/flabsync/reconcile/webhook"
)

// proxy puts an HTTPS reverse proxy on loopback in front of
// webhook.listen, as a lab puts nginx in front of the receiver, with
// edit (if not nil) changing each request on its way. It points the
// rig's public URL at it and returns what the proxy forwarded.
func (r *rig) proxy(t *testing.T, edit func(*http.Request)) *forwarded {
	t.Helper()
	back, err := url.Parse("http://" + r.cfg.Webhook.Listen)
	if err != nil {
		t.Fatal(err)
	}
	f := &forwarded{}
	rp := httputil.NewSingleHostReverseProxy(back)
	director := rp.Director
	rp.Director = func(req *http.Request) {
		director(req)
		if edit != nil {
			edit(req)
		}
		f.n.Add(1)
	}
	rp.ErrorLog = slog.NewLogLogger(slog.DiscardHandler, slog.LevelError)
	ts := httptest.NewTLSServer(rp)
	t.Cleanup(ts.Close)
	r.opts.PublicURL = ts.URL + r.cfg.Webhook.Path
	r.opts.HTTPClient = ts.Client()
	return f
}

// forwarded counts the requests the proxy passed on.
type forwarded struct{ n atomic.Int32 }

// TestPublicURLThroughProxy: with the receiver's address free, doctor
// listens there itself and sees the test event arrive through the proxy,
// with the token, at webhook.path.
func TestPublicURLThroughProxy(t *testing.T) {
	t.Parallel()
	r := newRig(t, flabstest.Options{})
	f := r.proxy(t, nil)
	by := only(t, r.run(t))
	contains(t, by[doctor.NameWebhook], "arrived on webhook.listen "+r.cfg.Webhook.Listen, "with the token", r.opts.PublicURL)
	if by[doctor.NameWebhook].Warning {
		t.Errorf("webhook warns: %s", by[doctor.NameWebhook].Detail)
	}
	if n := f.n.Load(); n != 1 {
		t.Errorf("proxy forwarded %d requests, want 1", n)
	}
	if _, err := net.Dial("tcp", r.cfg.Webhook.Listen); err == nil {
		t.Errorf("doctor still listens on %s", r.cfg.Webhook.Listen)
	}
}

// TestPublicURLProxyFaults: what a badly set up proxy does is named.
func TestPublicURLProxyFaults(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		edit func(*http.Request)
		want []string
	}{
		{"DropsToken", func(req *http.Request) { req.Header.Del("Authorization") },
			[]string{"arrived without webhook.auth_token in Authorization", "the proxy drops"}},
		{"WrongPath", func(req *http.Request) { req.URL.Path = "/hooks" },
			[]string{"arrived at path /hooks", "webhook.path /webhooks/flabs"}},
		{"ElsewhereEntirely", func(req *http.Request) { req.URL.Host = "127.0.0.1:1" },
			[]string{"nothing arrived on webhook.listen", "502"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := newRig(t, flabstest.Options{})
			r.proxy(t, tt.edit)
			by := only(t, r.run(t), doctor.NameWebhook)
			contains(t, by[doctor.NameWebhook], tt.want...)
		})
	}
}

// TestPublicURLToRunningReceiver: with flabsync's receiver already on
// webhook.listen, doctor recognises it and posts the test event through
// the proxy to it. The receiver stores it, and it makes no booking state
// and no exception, not even a bill made in Flabs.
func TestPublicURLToRunningReceiver(t *testing.T) {
	t.Parallel()
	r := newRig(t, flabstest.Options{})
	ctx, cancel := context.WithCancel(context.Background())
	db, err := store.Open(ctx, r.cfg.Database)
	if err != nil {
		t.Fatal(err)
	}
	recv := webhook.New(db, r.cfg.Webhook, slog.New(slog.DiscardHandler))
	done := make(chan error, 1)
	go func() { done <- recv.ListenAndServe(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
		recv.Close()
		db.Close()
	})
	waitListening(t, r.cfg.Webhook.Listen)

	only(t, r.run(t)) // without --public-url: recognised, nothing posted
	r.proxy(t, nil)
	by := only(t, r.run(t))
	contains(t, by[doctor.NameWebhook], "reached the running receiver", "200 OK (stored)")
	if s := recv.Stats(); s.Stored != 1 || s.Received != 3 {
		t.Errorf("receiver stats %+v: want 3 received (a GET probe per run, the test event) and 1 stored", s)
	}

	var states int
	if err := db.GetContext(ctx, &states, `SELECT COUNT(*) FROM booking_state`); err != nil {
		t.Fatal(err)
	}
	var event string
	if err := db.GetContext(ctx, &event, `SELECT event FROM webhook_events`); err != nil {
		t.Fatal(err)
	}
	res, err := rules.Run(ctx, db, rules.Config{BillCreatedWithin: time.Hour, BillCompletedWithin: time.Hour, ListWalkInBills: true}, nil, time.Now().Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if states != 0 || event != doctor.TestEventType || res.New+res.Open != 0 || res.WalkInBills != 0 {
		t.Errorf("after the test event: %d booking states, event %q, %d new and %d open exceptions, %d walk-in bills; want 0, %q, 0, 0, 0",
			states, event, res.New, res.Open, res.WalkInBills, doctor.TestEventType)
	}
}

// TestListenTakenBySomethingElse: an address taken by a server that is
// not flabsync's receiver fails, saying what it answered.
func TestListenTakenBySomethingElse(t *testing.T) {
	t.Parallel()
	r := newRig(t, flabstest.Options{})
	other := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, "hello")
	}))
	ln, err := net.Listen("tcp", r.cfg.Webhook.Listen)
	if err != nil {
		t.Fatal(err)
	}
	other.Listener.Close()
	other.Listener = ln
	other.Start()
	t.Cleanup(other.Close)
	by := only(t, r.run(t), doctor.NameWebhook)
	contains(t, by[doctor.NameWebhook], "is taken, and not by a flabsync receiver", "GET /webhooks/flabs answered 200")
}

// TestWebhookWithoutToken: serve would refuse to start without a token,
// so the webhook check fails; allowed on purpose, it warns.
func TestWebhookWithoutToken(t *testing.T) {
	t.Parallel()
	r := newRig(t, flabstest.Options{})
	r.cfg.Webhook.AuthToken = ""
	by := only(t, r.run(t), doctor.NameWebhook)
	contains(t, by[doctor.NameWebhook], "refuse to start", "webhook.auth_token is empty")

	r.cfg.Webhook.AllowUnauthenticated = true
	by = only(t, r.run(t))
	if c := by[doctor.NameWebhook]; !c.Warning || !strings.Contains(c.Detail, "allow_unauthenticated") {
		t.Errorf("webhook: want a warning about allow_unauthenticated: %+v", c)
	}
}

// waitListening waits until addr accepts connections.
func waitListening(t *testing.T, addr string) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return
		}
	}
	t.Fatalf("nothing listens on %s", addr)
}

// TestPublicURLWithReceiverTLS: with webhook.tls_cert and tls_key set,
// doctor's stand-in serves HTTPS with them, so a public URL straight at
// the receiver proves the certificate too.
func TestPublicURLWithReceiverTLS(t *testing.T) {
	t.Parallel()
	r := newRig(t, flabstest.Options{})
	cert, pool := mailtest.SelfSigned(t)
	r.cfg.Webhook.TLSCert, r.cfg.Webhook.TLSKey = writePEM(t, r.dir, cert.Certificates[0])
	r.opts.PublicURL = "https://" + r.cfg.Webhook.Listen // webhook.path is added
	r.opts.HTTPClient = &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}}
	by := only(t, r.run(t))
	contains(t, by[doctor.NameWebhook], "https://"+r.cfg.Webhook.Listen+"/webhooks/flabs arrived", "with the token")
	if by[doctor.NameWebhook].Warning {
		t.Errorf("webhook warns: %s", by[doctor.NameWebhook].Detail)
	}
}

// writePEM writes c's certificate and key as PEM files in dir.
func writePEM(t *testing.T, dir string, c tls.Certificate) (certFile, keyFile string) {
	t.Helper()
	key, err := x509.MarshalPKCS8PrivateKey(c.PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "hook.crt"), filepath.Join(dir, "hook.key")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Certificate[0]}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: key}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}
