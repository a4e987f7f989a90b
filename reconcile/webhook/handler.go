package webhook

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"

	"github.com/flabsync/flabsync/internal/logging"
)

// Handler returns the receiver's endpoint, to mount at webhook.path
// (ListenAndServe does; `flabsync serve` may mount it on its own mux).
// It answers:
//
//   - 405 to anything but POST;
//   - 401 without the configured token (webhook.auth_header, "Bearer
//     <token>" or the bare token);
//   - 413 to a body over webhook.max_body;
//   - 400 with {"error": reason} to a body that is not a Flabs event —
//     the body is stored first all the same, as received;
//   - 200 {"status": "stored"} or {"status": "duplicate"} once the event
//     is committed to the database, never before;
//   - 503 when it could not be stored (or the receiver is closing).
func (r *Receiver) Handler() http.Handler { return http.HandlerFunc(r.serveHTTP) }

func (r *Receiver) serveHTTP(w http.ResponseWriter, req *http.Request) {
	r.stats.received.Add(1)
	if req.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		r.refuse(w, http.StatusMethodNotAllowed, ReasonMethod, "use POST")
		return
	}
	if !r.token.OK(req.Header.Get(r.cfg.AuthHeader)) {
		w.Header().Set("WWW-Authenticate", `Bearer realm="flabsync webhooks"`)
		r.noisy.unauthorized.Do(func() {
			r.log.Warn("webhook refused: missing or wrong token (logged at most every 10s)", "remote", req.RemoteAddr, "header", r.cfg.AuthHeader)
		})
		r.refuse(w, http.StatusUnauthorized, ReasonUnauthorized, "missing or wrong token in "+r.cfg.AuthHeader)
		return
	}
	tooLarge := "body larger than " + strconv.FormatInt(r.cfg.MaxBody, 10) + " bytes"
	if req.ContentLength > r.cfg.MaxBody {
		r.refuse(w, http.StatusRequestEntityTooLarge, ReasonTooLarge, tooLarge)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, req.Body, r.cfg.MaxBody))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			r.refuse(w, http.StatusRequestEntityTooLarge, ReasonTooLarge, tooLarge)
			return
		}
		// The sender went away or stalled: nothing to answer, nothing kept.
		r.stats.failed.Add(1)
		r.log.Debug("webhook body not read", "remote", req.RemoteAddr, logging.Err(err))
		return
	}
	d := r.newDelivery(body, req.RemoteAddr, true)
	if err := r.submit(req.Context(), d); err != nil {
		r.stats.failed.Add(1)
		if errors.Is(err, context.Canceled) && req.Context().Err() != nil {
			return // the sender hung up; the event may still be stored, and a resend is a duplicate
		}
		if !errors.Is(err, ErrClosed) {
			r.log.Error("webhook not stored", "remote", req.RemoteAddr, logging.Err(err))
		}
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"error": "not stored; try again"})
		return
	}
	r.count(d)
	if d.status == StatusInvalid {
		r.noisy.invalid.Do(func() {
			r.log.Warn("webhook body is not a Flabs event; kept as received (logged at most every 10s)", "remote", req.RemoteAddr, "reason", d.reason)
		})
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": d.reason})
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": string(d.status)})
}

// refuse answers a refused delivery and counts it.
func (r *Receiver) refuse(w http.ResponseWriter, code int, reason, msg string) {
	r.stats.reject(reason)
	writeJSON(w, code, map[string]string{"error": msg})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	b, _ := json.Marshal(v)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)+1))
	w.WriteHeader(code)
	_, _ = w.Write(append(b, '\n'))
}
