package webhook

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/flabsync/flabsync/internal/logging"
)

// Server timeouts: generous for a JSON body of at most a few MiB, short
// enough that idle or stalled connections cannot pile up.
const (
	readHeaderTimeout = 10 * time.Second
	readTimeout       = 30 * time.Second
	writeTimeout      = 30 * time.Second // covers waiting for the commit
	idleTimeout       = 2 * time.Minute
	maxHeaderBytes    = 64 << 10
)

// ListenAndServe listens on webhook.listen and serves the receiver at
// webhook.path (HTTPS when webhook.tls_cert and tls_key are set) until
// ctx is cancelled, then shuts down gracefully: it stops accepting,
// lets running requests finish (up to Options.ShutdownTimeout) and
// returns nil. It does not Close the receiver.
func (r *Receiver) ListenAndServe(ctx context.Context) error {
	ln, err := net.Listen("tcp", r.cfg.Listen)
	if err != nil {
		return fmt.Errorf("webhook receiver: listen on %s: %w", r.cfg.Listen, err)
	}
	return r.Serve(ctx, ln)
}

// Serve is ListenAndServe on a listener the caller opened (and Serve
// closes).
func (r *Receiver) Serve(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{
		Handler:           r.mux(),
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       readTimeout,
		WriteTimeout:      writeTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(r.log.Handler(), slog.LevelDebug),
	}
	scheme := "http"
	if r.cfg.TLSCert != "" {
		cert, err := tls.LoadX509KeyPair(r.cfg.TLSCert, r.cfg.TLSKey)
		if err != nil {
			ln.Close()
			return fmt.Errorf("webhook receiver: load webhook.tls_cert %s / webhook.tls_key %s: %w", r.cfg.TLSCert, r.cfg.TLSKey, err)
		}
		srv.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert}}
		scheme = "https"
	}
	if r.cfg.AuthToken == "" {
		r.log.Warn("webhook.auth_token is empty: deliveries are accepted without a token")
	}
	r.log.Info("webhook receiver listening", "url", scheme+"://"+ln.Addr().String()+r.cfg.Path)
	errc := make(chan error, 1)
	go func() {
		if srv.TLSConfig != nil {
			errc <- srv.ServeTLS(ln, "", "")
		} else {
			errc <- srv.Serve(ln)
		}
	}()
	select {
	case err := <-errc:
		return fmt.Errorf("webhook receiver: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), r.opts.ShutdownTimeout)
	defer cancel()
	err := srv.Shutdown(sctx)
	if err != nil {
		r.log.Warn("webhook receiver: requests still running at shutdown were cut off", logging.Err(err))
		srv.Close()
	}
	if serr := <-errc; serr != nil && !errors.Is(serr, http.ErrServerClosed) {
		return fmt.Errorf("webhook receiver: %w", serr)
	}
	r.log.Info("webhook receiver stopped")
	return nil
}

// mux serves Handler at exactly webhook.path and 404 elsewhere.
func (r *Receiver) mux() http.Handler {
	h := r.Handler()
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.URL.Path != r.cfg.Path {
			http.NotFound(w, req)
			return
		}
		h.ServeHTTP(w, req)
	})
}
