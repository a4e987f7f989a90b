// Package mailtest runs a real SMTP server (github.com/emersion/go-smtp) on
// loopback for tests: it keeps what it receives, can require STARTTLS or
// TLS and AUTH, and can refuse DATA; Parse takes a Received message apart.
package mailtest

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"errors"
	"io"
	"math/big"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// Server is a real SMTP server (go-smtp) on loopback that keeps what
// it receives.
type Server struct {
	Addr string
	Port int

	user, pass string       // AUTH PLAIN required when user is set
	failData   atomic.Int32 // answer this many DATA commands with failCode
	failCode   int
	// Sessions counts the SMTP sessions opened.
	Sessions atomic.Int32

	mu   sync.Mutex
	msgs []Received

	stop func()
}

// Received is one message as the server got it.
type Received struct {
	From string
	To   []string
	Data []byte
	User string // who authenticated
	TLS  bool   // the session ran over TLS
}

// Options shape the server.
type Options struct {
	User, Pass string      // AUTH PLAIN required when User is set
	TLS        *tls.Config // STARTTLS offered when set
	Implicit   bool        // TLS from the first byte (smtps)
	FailData   int32       // DATA commands to refuse first
	FailCode   int         // with this code (default 451, temporary)
}

// Start runs a server until the test ends.
func Start(t testing.TB, o Options) *Server {
	t.Helper()
	s := &Server{user: o.User, pass: o.Pass, failCode: o.FailCode}
	if s.failCode == 0 {
		s.failCode = 451
	}
	s.failData.Store(o.FailData)
	srv := smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) {
		s.Sessions.Add(1)
		return &session{srv: s, conn: c}, nil
	}))
	srv.Domain = "localhost"
	srv.ReadTimeout, srv.WriteTimeout = 10*time.Second, 10*time.Second
	srv.MaxMessageBytes = 50 << 20
	srv.TLSConfig = o.TLS
	srv.AllowInsecureAuth = true // loopback: AUTH without TLS is allowed, so a wrong password is refused for what it is
	var l net.Listener
	var err error
	if o.Implicit {
		l, err = tls.Listen("tcp", "127.0.0.1:0", o.TLS)
	} else {
		l, err = net.Listen("tcp", "127.0.0.1:0")
	}
	if err != nil {
		t.Fatal(err)
	}
	s.Addr = l.Addr().String()
	s.Port = l.Addr().(*net.TCPAddr).Port
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := srv.Serve(l); err != nil && !errors.Is(err, smtp.ErrServerClosed) {
			t.Errorf("smtp server: %v", err)
		}
	}()
	var once sync.Once
	s.stop = func() {
		once.Do(func() {
			srv.Close()
			l.Close() // Serve may not have registered it with srv yet
			select {  // never let a stuck server hang the whole test run
			case <-done:
			case <-time.After(5 * time.Second):
				t.Log("smtp server did not stop within 5s")
			}
		})
	}
	t.Cleanup(s.Close)
	return s
}

// Close stops the server: its port then refuses connections.
func (s *Server) Close() { s.stop() }

// Messages returns what arrived so far.
func (s *Server) Messages() []Received {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Received(nil), s.msgs...)
}

type session struct {
	srv  *Server
	conn *smtp.Conn
	user string
	msg  Received
}

var _ smtp.AuthSession = (*session)(nil)

func (ss *session) AuthMechanisms() []string {
	if ss.srv.user == "" {
		return nil
	}
	return []string{sasl.Plain}
}

func (ss *session) Auth(mech string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(identity, username, password string) error {
		if username != ss.srv.user || password != ss.srv.pass {
			return &smtp.SMTPError{Code: 535, EnhancedCode: smtp.EnhancedCode{5, 7, 8}, Message: "bad credentials"}
		}
		ss.user = username
		return nil
	}), nil
}

func (ss *session) Mail(from string, _ *smtp.MailOptions) error {
	if ss.srv.user != "" && ss.user == "" {
		return &smtp.SMTPError{Code: 530, EnhancedCode: smtp.EnhancedCode{5, 7, 0}, Message: "authentication required"}
	}
	ss.msg = Received{From: from, User: ss.user}
	_, ss.msg.TLS = ss.conn.TLSConnectionState()
	return nil
}

func (ss *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	ss.msg.To = append(ss.msg.To, to)
	return nil
}

func (ss *session) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	if ss.srv.failData.Add(-1) >= 0 {
		code := ss.srv.failCode
		return &smtp.SMTPError{Code: code, EnhancedCode: smtp.EnhancedCode{code / 100, 3, 0}, Message: "try again later"}
	}
	ss.msg.Data = b
	ss.srv.mu.Lock()
	ss.srv.msgs = append(ss.srv.msgs, ss.msg)
	ss.srv.mu.Unlock()
	return nil
}

func (ss *session) Reset()        { ss.msg = Received{} }
func (ss *session) Logout() error { return nil }

// SelfSigned makes a certificate for 127.0.0.1 and a pool that trusts it.
func SelfSigned(t testing.TB) (*tls.Config, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "flabsync test smtp"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		IPAddresses:           []net.IP{net.ParseIP("127.0.0.1")},
		DNSNames:              []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key, Leaf: cert}}}, pool
}

// Parts is a Received message taken apart.
type Parts struct {
	Header     mail.Header
	Subject    string
	Text, HTML string
	Attachment []byte
	AttachName string
	AttachType string
}

// Parse takes a raw message apart: subject, text and HTML bodies, the
// attachment.
func Parse(t testing.TB, raw []byte) Parts {
	t.Helper()
	m, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	var p Parts
	p.Header = m.Header
	p.Subject, err = new(mime.WordDecoder).DecodeHeader(m.Header.Get("Subject"))
	if err != nil {
		t.Fatal(err)
	}
	walkPart(t, &p, m.Header.Get("Content-Type"), m.Header.Get("Content-Transfer-Encoding"), m.Header.Get("Content-Disposition"), m.Body)
	return p
}

func walkPart(t testing.TB, p *Parts, ctype, cte, disp string, body io.Reader) {
	t.Helper()
	mt, params, err := mime.ParseMediaType(ctype)
	if err != nil {
		t.Fatalf("content type %q: %v", ctype, err)
	}
	if strings.HasPrefix(mt, "multipart/") {
		mr := multipart.NewReader(body, params["boundary"])
		for {
			part, err := mr.NextRawPart()
			if errors.Is(err, io.EOF) {
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			walkPart(t, p, part.Header.Get("Content-Type"), part.Header.Get("Content-Transfer-Encoding"),
				part.Header.Get("Content-Disposition"), part)
		}
	}
	switch strings.ToLower(cte) {
	case "base64":
		body = base64.NewDecoder(base64.StdEncoding, body)
	case "quoted-printable":
		body = quotedprintable.NewReader(body)
	}
	b, err := io.ReadAll(body)
	if err != nil {
		t.Fatal(err)
	}
	switch {
	case strings.HasPrefix(disp, "attachment"):
		_, dp, _ := mime.ParseMediaType(disp)
		p.Attachment, p.AttachName, p.AttachType = b, dp["filename"], mt
	case mt == "text/plain":
		p.Text = string(b)
	case mt == "text/html":
		p.HTML = string(b)
	}
}
