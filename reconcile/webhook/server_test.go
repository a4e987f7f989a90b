package webhook_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/flabsync/flabsync/internal/config"
	"github.com/flabsync/flabsync/internal/store/storetest"
	"github.com/flabsync/flabsync/reconcile/webhook"
)

// With webhook.tls_cert and tls_key set the receiver speaks HTTPS only.
func TestTLS(t *testing.T) {
	certPEM, keyPEM, pool := selfSigned(t)
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	os.WriteFile(certFile, certPEM, 0o600)
	os.WriteFile(keyFile, keyPEM, 0o600)
	db := storetest.OpenSQLite(t)
	srv := startReceiver(t, db, config.Webhook{AuthToken: testToken, TLSCert: certFile, TLSKey: keyFile}, webhook.Options{})
	httpsURL := strings.Replace(srv.URL, "http://", "https://", 1)

	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	req, _ := http.NewRequest(http.MethodPost, httpsURL, strings.NewReader(string(fixture(t, "bill_created.json"))))
	req.Header.Set("Authorization", "Bearer "+testToken)
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("HTTPS delivery: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("HTTPS delivery answered %d", resp.StatusCode)
	}
	if resp, err := http.Post(srv.URL, "application/json", strings.NewReader("{}")); err == nil {
		resp.Body.Close()
		if resp.StatusCode == 200 {
			t.Error("a plain-HTTP delivery was accepted on the TLS port")
		}
	}
}

// A certificate that cannot be loaded stops Serve at once, naming the keys.
func TestTLSBadCertificate(t *testing.T) {
	db := storetest.OpenSQLite(t)
	r := webhook.New(db, config.Webhook{Path: "/h", TLSCert: "/nonexistent/cert.pem", TLSKey: "/nonexistent/key.pem"}, nil)
	defer r.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	err = r.Serve(context.Background(), ln)
	if err == nil || !strings.Contains(err.Error(), "webhook.tls_cert") {
		t.Errorf("Serve with a missing certificate = %v, want an error naming webhook.tls_cert", err)
	}
}

// Stopping (ctx cancelled) lets a delivery already being received finish
// and be answered 200, then Serve returns nil.
//
// The delivery asks "Expect: 100-continue", so its client sends the body
// only once the server says "100 Continue", which it does when the handler
// first reads the body: the first write to the body returning is the
// signal that the handler has the request.
func TestServeStopsGracefully(t *testing.T) {
	db := storetest.OpenSQLite(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r := webhook.New(db, config.Webhook{Path: "/h", AuthToken: testToken}, nil)
	defer r.Close()
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- r.Serve(ctx, ln) }()

	body := fixture(t, "bill_created.json")
	pr, pw := io.Pipe()
	req, _ := http.NewRequest(http.MethodPost, "http://"+ln.Addr().String()+"/h", pr)
	req.Header.Set("Authorization", testToken)
	req.Header.Set("Expect", "100-continue")
	req.ContentLength = int64(len(body))
	// Never reached: it only bounds a wait for a server that stays silent.
	client := &http.Client{Transport: &http.Transport{ExpectContinueTimeout: time.Hour}}
	defer client.CloseIdleConnections()
	answered := make(chan int, 1)
	go func() {
		resp, err := client.Do(req)
		if err != nil {
			answered <- 0
			return
		}
		resp.Body.Close()
		answered <- resp.StatusCode
	}()
	if _, err := pw.Write(body[:10]); err != nil { // returns once the handler reads the body
		t.Fatalf("body not read (answered %d): %v", <-answered, err)
	}
	if n := r.Stats().Received; n != 1 {
		t.Fatalf("Stats.Received = %d with the handler reading the body, want 1", n)
	}
	cancel() // Serve stops listening, and waits for this request
	pw.Write(body[10:])
	pw.Close()
	if code := <-answered; code != 200 {
		t.Errorf("delivery in flight at shutdown answered %d, want 200", code)
	}
	if err := <-served; err != nil {
		t.Errorf("Serve after shutdown = %v, want nil", err)
	}
}

// selfSigned makes a certificate for 127.0.0.1 and a pool trusting it.
func selfSigned(t *testing.T) (certPEM, keyPEM []byte, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "flabsync test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), pool
}
