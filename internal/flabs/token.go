package flabs

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/flabsync/flabsync/internal/logging"
)

// authToken returns a valid auth token, getting or refreshing one when it
// is missing or about to expire. Only one caller renews at a time; the
// others wait (honouring ctx) and reuse the result.
func (c *Client) authToken(ctx context.Context) (string, uint64, error) {
	select {
	case c.tokSem <- struct{}{}:
	case <-ctx.Done():
		return "", 0, fmt.Errorf("flabs auth: %w", ctx.Err())
	}
	defer func() { <-c.tokSem }()

	if c.tok.auth != "" && c.now().Before(c.tok.expires) {
		return c.tok.auth, c.tok.gen, nil
	}
	if c.tok.refresh != "" {
		err := c.tokenCall(ctx, "auth refresh", PathTokenRefresh, RefreshRequest{ClientID: c.cfg.ClientID, RefreshToken: c.tok.refresh})
		if err == nil {
			return c.tok.auth, c.tok.gen, nil
		}
		if ctx.Err() != nil {
			return "", 0, err
		}
		c.log.Warn("flabs: token refresh failed, requesting a new token", logging.Err(err))
	}
	if err := c.tokenCall(ctx, "auth token", PathToken, TokenRequest{ClientID: c.cfg.ClientID, ClientSecret: c.cfg.ClientSecret}); err != nil {
		return "", 0, err
	}
	return c.tok.auth, c.tok.gen, nil
}

// tokenCall calls one of the token endpoints and stores the answer. The
// caller holds tokSem.
//
// Any refusal from a token endpoint is ClassAuth, whatever its status (a
// 403 and a 400 included, not only a 401): these calls carry nothing but
// the client ID and the secret or refresh token, so a refusal can only be
// of those, never of a booking. The docs name no error status for them
// (flabs-api.md §2.4), and reading a 403 here as one booking's refusal
// would reject, one by one, every booking sent with unusable credentials.
// Trouble getting an answer (429, 408, 5xx, transport, an unreadable 2xx)
// stays ClassRetryable.
func (c *Client) tokenCall(ctx context.Context, op, path string, in any) error {
	body, err := jsonBody(in)
	if err != nil {
		return err
	}
	status, hdr, respBody, err := c.send(ctx, op, http.MethodPost, path, nil, body, "")
	if err != nil {
		return err
	}
	var tr TokenResponse
	if err := c.decode(op, status, hdr, respBody, &tr); err != nil {
		var fe *Error
		if errors.As(err, &fe) && (fe.Class.Refusal()) {
			fe.Class = ClassAuth
		}
		return err
	}
	if tr.AuthToken == "" {
		return &Error{Op: op, Status: status, Class: ClassAuth, Message: "answer has no authToken"}
	}
	ttl := time.Duration(tr.ExpiresIn) * time.Second
	if ttl <= 0 {
		ttl = 600 * time.Second // the documented lifetime
	}
	margin := min(c.cfg.RefreshMargin, ttl/5)
	c.tok.auth = tr.AuthToken
	if tr.RefreshToken != "" { // always keep the newest: refresh may rotate
		c.tok.refresh = tr.RefreshToken
	}
	c.tok.expires = c.now().Add(ttl - margin)
	c.tok.gen++
	return nil
}

// expire marks the token of generation gen as unusable, so the next call
// renews it. A newer token (another caller already renewed) is kept. It
// gives up when ctx ends while another caller holds the token lock.
func (c *Client) expire(ctx context.Context, gen uint64) error {
	select {
	case c.tokSem <- struct{}{}:
	case <-ctx.Done():
		return fmt.Errorf("flabs auth: %w", ctx.Err())
	}
	defer func() { <-c.tokSem }()
	if c.tok.gen == gen {
		c.tok.expires = time.Time{}
	}
	return nil
}
