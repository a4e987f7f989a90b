package flabstest

import (
	"crypto/subtle"
	"encoding/json"
	"net/http"

	"github.com/flabsync/flabsync/internal/flabs"
)

func (s *Server) handleToken(w http.ResponseWriter, r *http.Request, _ *Request) {
	var in flabs.TokenRequest
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<16)).Decode(&in); err != nil {
		s.fail(w, http.StatusBadRequest, "invalid JSON body")
		return
	}
	switch {
	case in.ClientID == "":
		s.fail(w, http.StatusBadRequest, "clientID is required")
		return
	case in.ClientSecret == "":
		s.fail(w, http.StatusBadRequest, "clientSecret is required")
		return
	}
	if !eq(in.ClientID, s.opts.ClientID) || !eq(in.ClientSecret, s.opts.ClientSecret) {
		s.stats.Unauthorized.Add(1)
		s.writeError(w, http.StatusUnauthorized, "Invalid client credentials")
		return
	}
	s.issue(w, "")
}

func (s *Server) handleRefresh(w http.ResponseWriter, r *http.Request, _ *Request) {
	var in flabs.RefreshRequest
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<16)).Decode(&in); err != nil {
		s.fail(w, http.StatusBadRequest, "invalid JSON body")
		return
	}
	switch {
	case in.ClientID == "":
		s.fail(w, http.StatusBadRequest, "clientID is required")
		return
	case in.RefreshToken == "":
		s.fail(w, http.StatusBadRequest, "refreshToken is required")
		return
	}
	s.mu.Lock()
	ok := eq(in.ClientID, s.opts.ClientID) && s.refresh[in.RefreshToken]
	s.mu.Unlock()
	if !ok {
		s.stats.Unauthorized.Add(1)
		s.writeError(w, http.StatusUnauthorized, "Invalid refresh token")
		return
	}
	s.issue(w, in.RefreshToken)
}

// issue answers a new auth token; used is the refresh token being spent
// (empty for a fresh login). Refresh rotates unless KeepRefreshToken.
func (s *Server) issue(w http.ResponseWriter, used string) {
	authTok := "sim-auth-" + s.newID()
	refreshTok := used
	if used == "" || !s.opts.KeepRefreshToken {
		refreshTok = "sim-refresh-" + s.newID()
	}
	s.mu.Lock()
	s.auth[authTok] = s.opts.Now().Add(s.opts.TokenTTL)
	if used != "" && refreshTok != used {
		delete(s.refresh, used)
	}
	s.refresh[refreshTok] = true
	s.mu.Unlock()
	s.writeJSON(w, http.StatusOK, flabs.TokenResponse{
		AuthToken: authTok, RefreshToken: refreshTok, ExpiresIn: int(s.opts.TokenTTL.Seconds()),
	})
}

// authorized checks the Bearer token and its expiry.
func (s *Server) authorized(r *http.Request) bool {
	tok := bearer(r)
	if tok == "" {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	exp, ok := s.auth[tok]
	return ok && s.opts.Now().Before(exp)
}

// ExpireTokens makes every auth token issued so far invalid, as if they
// had all run out; refresh tokens stay valid.
func (s *Server) ExpireTokens() {
	s.mu.Lock()
	defer s.mu.Unlock()
	clear(s.auth)
}

// RevokeRefreshTokens makes every refresh token invalid, so the client
// must log in again with its secret.
func (s *Server) RevokeRefreshTokens() {
	s.mu.Lock()
	defer s.mu.Unlock()
	clear(s.refresh)
}

func eq(a, b string) bool { return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1 }
