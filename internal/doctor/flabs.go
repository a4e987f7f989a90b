package doctor

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/flabsync/flabsync/internal/config"
	"github.com/flabsync/flabsync/internal/flabs"
)

// tokenSkew is how far the client's clock is wound on to make its token
// look expired, so that the next call refreshes it.
const tokenSkew = 365 * 24 * time.Hour

// checkFlabs logs in with the client ID and secret, lists the labs (which
// must hold flabs.lab_id when it is set, or be one lab when it is not:
// mapping sync needs to know which), the tests and packages of that lab,
// and then winds the client's clock on so the next call refreshes the
// token. A refused secret fails here naming the keys; a refused refresh
// is a warning (the client falls back to a new login with the secret).
func checkFlabs(ctx context.Context, cfg *config.Config, opts Options) Check {
	if err := cfg.RequireFlabs(); err != nil {
		return fail(NameFlabs, "%v", err)
	}
	var skew atomic.Int64
	tr := http.DefaultTransport.(*http.Transport).Clone()
	defer tr.CloseIdleConnections()
	obs := &tokenObserver{next: tr}
	c, err := flabs.NewClient(flabs.Config{
		BaseURL: cfg.Flabs.BaseURL, ClientID: cfg.Flabs.ClientID, ClientSecret: cfg.Flabs.ClientSecret,
		Timeout:    min(cfg.Flabs.Timeout, opts.Timeout),
		HTTPClient: &http.Client{Transport: obs},
		Now:        func() time.Time { return time.Now().Add(time.Duration(skew.Load())) },
	})
	if err != nil {
		return fail(NameFlabs, "%v", err)
	}
	labs, err := c.Labs(ctx)
	if err != nil {
		return fail(NameFlabs, "%s", flabsAdvice(cfg, err))
	}
	lab, err := pickLab(labs, cfg.Flabs.LabID)
	if err != nil {
		return fail(NameFlabs, "%v", err)
	}
	tests, err := c.Tests(ctx, lab.ID)
	if err != nil {
		return fail(NameFlabs, "tests of lab %s: %s", lab.ID, flabsAdvice(cfg, err))
	}
	pkgs, err := c.Packages(ctx, lab.ID)
	if err != nil {
		return fail(NameFlabs, "packages of lab %s: %s", lab.ID, flabsAdvice(cfg, err))
	}
	if len(tests)+len(pkgs) == 0 {
		return fail(NameFlabs, "lab %s (%s) lists no tests and no packages: mapping sync refuses an empty catalogue; ask Flabs whether flabs.lab_id is the right lab", lab.ID, lab.Name)
	}
	found := fmt.Sprintf("lab %s (%s): %d tests, %d packages", lab.ID, lab.Name, len(tests), len(pkgs))

	skew.Store(int64(tokenSkew))
	if _, err := c.Labs(ctx); err != nil {
		return fail(NameFlabs, "after a token refresh: %s", flabsAdvice(cfg, err))
	}
	switch st := obs.refreshStatus(); {
	case st == 0:
		return warn(NameFlabs, "login works but the token refresh was not tried; %s", found)
	case st < 200 || st > 299:
		return warn(NameFlabs, "token refresh refused (%d %s): flabsync logs in again with the secret each time, which works; ask Flabs why; login and %s",
			st, http.StatusText(st), found)
	}
	return pass(NameFlabs, "login and token refresh work; %s", found)
}

// flabsAdvice says what a failed Flabs call means and what to do.
func flabsAdvice(cfg *config.Config, err error) string {
	var fe *flabs.Error
	switch {
	case flabs.ClassOf(err) == flabs.ClassAuth:
		return fmt.Sprintf("Flabs refused flabs.client_id/flabs.client_secret (%v): check both against what Flabs issued (and the environment variables the config reads them from)", err)
	case errors.As(err, &fe) && fe.Status == 0:
		return fmt.Sprintf("no answer from Flabs at flabs.base_url %s (%v): check the URL, DNS, the firewall or proxy", cfg.Flabs.ShownBaseURL(), err)
	case errors.Is(err, context.DeadlineExceeded):
		return fmt.Sprintf("no answer from Flabs at flabs.base_url %s in time (%v)", cfg.Flabs.ShownBaseURL(), err)
	}
	return fmt.Sprintf("%v", err)
}

// pickLab chooses the lab mapping sync would: the configured one, which
// must be in the list, or the only one there is.
func pickLab(labs []flabs.Lab, configured string) (flabs.Lab, error) {
	var names []string
	for _, l := range labs {
		if configured != "" && l.ID == configured {
			return l, nil
		}
		names = append(names, fmt.Sprintf("%s (%s)", l.ID, l.Name))
	}
	switch {
	case configured != "":
		return flabs.Lab{}, fmt.Errorf("flabs.lab_id %s is not one of this account's labs: %s", configured, strings.Join(names, ", "))
	case len(labs) == 0:
		return flabs.Lab{}, errors.New("Flabs lists no labs for this account: ask Flabs")
	case len(labs) > 1:
		return flabs.Lab{}, fmt.Errorf("this account has %d labs: set flabs.lab_id to one of %s", len(labs), strings.Join(names, ", "))
	}
	return labs[0], nil
}

// tokenObserver remembers the HTTP status of the last token refresh, so
// the check can tell a refresh that worked from a fallback to login.
type tokenObserver struct {
	next    http.RoundTripper
	mu      sync.Mutex
	refresh int // 0: not tried
}

func (o *tokenObserver) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := o.next.RoundTrip(r)
	if err == nil && strings.HasSuffix(r.URL.Path, flabs.PathTokenRefresh) {
		o.mu.Lock()
		o.refresh = resp.StatusCode
		o.mu.Unlock()
	}
	return resp, err
}

func (o *tokenObserver) refreshStatus() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.refresh
}
