package doctor_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/flabsync/flabsync/internal/doctor"
	"github.com/flabsync/flabsync/internal/flabs"
	"github.com/flabsync/flabsync/internal/flabs/flabstest"
)

// TestWrongClientSecret: Flabs refusing the secret fails the flabs check
// alone, naming the keys to fix; nothing else depends on Flabs.
func TestWrongClientSecret(t *testing.T) {
	t.Parallel()
	r := newRig(t, flabstest.Options{})
	r.cfg.Flabs.ClientSecret = wrongSecret
	by := only(t, r.run(t), doctor.NameFlabs)
	contains(t, by[doctor.NameFlabs], "flabs.client_id", "client_secret", "401")
}

// TestRefreshRefused: a Flabs that refuses token refreshes still works
// (the client logs in again), so the check warns instead of failing.
func TestRefreshRefused(t *testing.T) {
	t.Parallel()
	r := newRig(t, flabstest.Options{})
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.URL.Path == flabs.PathTokenRefresh {
			http.Error(w, `{"success": false, "message": "Invalid refresh token"}`, http.StatusUnauthorized)
			return
		}
		r.sim.ServeHTTP(w, req)
	}))
	t.Cleanup(front.Close)
	r.cfg.Flabs.BaseURL = front.URL
	by := only(t, r.run(t))
	if c := by[doctor.NameFlabs]; !c.Warning {
		t.Errorf("flabs: want a warning: %+v", c)
	}
	contains(t, by[doctor.NameFlabs], "token refresh refused (401", "Main Lab")
}

// TestLabNotOnAccount: a flabs.lab_id the account does not list fails,
// listing the labs there are.
func TestLabNotOnAccount(t *testing.T) {
	t.Parallel()
	r := newRig(t, flabstest.Options{})
	r.cfg.Flabs.LabID = "64f0000000000000000000ff"
	by := only(t, r.run(t), doctor.NameFlabs)
	contains(t, by[doctor.NameFlabs], "flabs.lab_id 64f0000000000000000000ff is not one of this account's labs", "Main Lab")
}
