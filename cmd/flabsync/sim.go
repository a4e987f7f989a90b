package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/flabsync/flabsync/fixtures"

	"github.com/flabsync/flabsync/internal/flabs/flabstest"
	"github.com/flabsync/flabsync/internal/logging"
)

func runSim(ctx context.Context, m *Main, args []string) error {
	fs := m.newFlagSet("sim", "sim [--listen ADDR] [flags]",
		"Runs the built-in Flabs simulator: every documented endpoint with the documented validation,\n"+
			"the undocumented behaviours as in internal/flabs/flabs-api.md, optional faults, and webhooks sent to\n"+
			"the endpoint registered with 'flabsync webhooks subscribe' (or --webhook-url). Point\n"+
			"flabs.base_url at http://ADDR. Stops on Ctrl-C / SIGTERM.")
	listen := fs.String("listen", "127.0.0.1:9191", "address to serve on (not 9090: serve.listen's default)")
	options := flabstest.RegisterFlags(fs)
	logLevel := fs.String("log-level", "info", "debug, info, warn or error")
	if err := parse(fs, args); err != nil {
		return err
	}
	o, err := options()
	if err != nil {
		return usageErrorf("sim: %v", err)
	}
	log, err := logging.New(m.Stderr, *logLevel, "text")
	if err != nil {
		return usageErrorf("sim: %v", err)
	}
	o.Logger = log
	cat, err := fixtures.LoadCatalogue()
	if err != nil {
		return err
	}
	cat.Serve(o)

	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return fmt.Errorf("sim: listen on %s: %w", *listen, err)
	}
	sim := flabstest.New(*o)
	sim.SetURL("http://" + ln.Addr().String())
	srv := &http.Server{Handler: sim, ReadHeaderTimeout: 10 * time.Second}
	fmt.Fprintf(m.Stdout, "Flabs simulator on %s (client %q; set flabs.base_url to this URL)\n", sim.URL(), o.ClientID)
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		sim.Close()
		return fmt.Errorf("sim: %w", err)
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	err = srv.Shutdown(shutdownCtx)
	sim.Close()
	st := sim.Stats()
	fmt.Fprintf(m.Stdout, "simulator stopped: %d requests, %d bookings, %d duplicates answered, %d rejected, %d rate-limited\n",
		st.Requests.Load(), st.Created.Load(), st.Duplicates.Load(), st.Rejected.Load(), st.RateLimited.Load())
	if err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("sim: shutdown: %w", err)
	}
	return nil
}
