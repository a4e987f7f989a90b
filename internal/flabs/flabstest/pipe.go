package flabstest

import (
	"context"
	"net"
	"net/http"
	"sync"
)

// PipeURL is the base URL of servers started by NewPipeServer and
// ServePipe. Only the client that comes with a server reaches it; its
// dialer ignores the host.
const PipeURL = "http://flabs.pipe"

// NewPipeServer is NewTestServer over in-memory connections (net.Pipe)
// instead of loopback TCP. Call it inside a testing/synctest bubble: a
// goroutine blocked on a pipe is durably blocked there (one blocked on a
// socket is not), so the fake clock runs the simulator's latency, hangs
// and token lifetimes and the client's timeouts, and synctest.Wait sees a
// request in flight as settled. Reach it only with Client, at PipeURL.
func NewPipeServer(tb TB, opts Options) *Server {
	tb.Helper()
	s := New(opts)
	s.url = PipeURL
	s.client, s.stopPipe = servePipe(s)
	tb.Cleanup(s.Close)
	return s
}

// ServePipe serves h over in-memory connections until tb ends, for tests
// that script a Flabs of their own inside a testing/synctest bubble (see
// NewPipeServer). It returns the base URL and the only client that
// reaches h.
func ServePipe(tb TB, h http.Handler) (baseURL string, client *http.Client) {
	tb.Helper()
	c, stop := servePipe(h)
	tb.Cleanup(stop)
	return PipeURL, c
}

// servePipe serves h on a pipeListener and returns a client dialling it
// and a stop function that closes every connection, waits for the server
// loop to end and may be called more than once.
func servePipe(h http.Handler) (*http.Client, func()) {
	ln := newPipeListener()
	srv := &http.Server{Handler: h}
	served := make(chan struct{})
	go func() {
		defer close(served)
		_ = srv.Serve(ln) // http.ErrServerClosed once stopped
	}()
	tr := &http.Transport{DialContext: ln.DialContext, MaxIdleConnsPerHost: 64}
	var once sync.Once
	stop := func() {
		once.Do(func() {
			srv.Close() // closes ln, and with it every pipe
			tr.CloseIdleConnections()
			<-served
		})
	}
	return &http.Client{Transport: tr}, stop
}

// pipeListener is a net.Listener whose connections are net.Pipe pairs
// made by its DialContext.
type pipeListener struct {
	accept chan net.Conn
	done   chan struct{}

	mu     sync.Mutex
	closed bool
	open   []net.Conn // server ends, closed with the listener
}

var _ net.Listener = (*pipeListener)(nil)

func newPipeListener() *pipeListener {
	return &pipeListener{accept: make(chan net.Conn), done: make(chan struct{})}
}

// Accept waits for a DialContext, or Close.
func (l *pipeListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.accept:
		return c, nil
	case <-l.done:
		return nil, &net.OpError{Op: "accept", Net: "pipe", Addr: pipeAddr{}, Err: net.ErrClosed}
	}
}

// Close stops Accept and DialContext and closes every connection made,
// so that no goroutine on either end stays blocked on one.
func (l *pipeListener) Close() error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil
	}
	l.closed = true
	open := l.open
	l.open = nil
	l.mu.Unlock()
	close(l.done)
	for _, c := range open {
		c.Close()
	}
	return nil
}

func (l *pipeListener) Addr() net.Addr { return pipeAddr{} }

// DialContext returns the client end of a new pipe once Accept has taken
// the server end. It has the signature of http.Transport.DialContext and
// ignores network and address.
func (l *pipeListener) DialContext(ctx context.Context, _, _ string) (net.Conn, error) {
	srv, cli := net.Pipe()
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil, &net.OpError{Op: "dial", Net: "pipe", Addr: pipeAddr{}, Err: net.ErrClosed}
	}
	l.open = append(l.open, srv)
	l.mu.Unlock()
	select {
	case l.accept <- srv:
		return cli, nil
	case <-l.done:
		cli.Close()
		return nil, &net.OpError{Op: "dial", Net: "pipe", Addr: pipeAddr{}, Err: net.ErrClosed}
	case <-ctx.Done():
		srv.Close()
		cli.Close()
		return nil, &net.OpError{Op: "dial", Net: "pipe", Addr: pipeAddr{}, Err: ctx.Err()}
	}
}

type pipeAddr struct{}

func (pipeAddr) Network() string { return "pipe" }
func (pipeAddr) String() string  { return "pipe" }
