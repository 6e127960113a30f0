package webterm

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/postern/postern/internal/store"
	"github.com/postern/postern/internal/wire/awsid"
)

// checkHostKey is the SSH client's host key check: a pinned key must be
// the same; a new one is shown to the person and pinned once they accept
// it (the first key accepted for an instance stays until a reset).
func (s *session) checkHostKey(key ssh.PublicKey) error {
	fp := ssh.FingerprintSHA256(key)
	authorized := strings.TrimSpace(string(ssh.MarshalAuthorizedKey(key)))
	for range 2 { // a second round only after losing a race to pin
		pin, err := s.t.cfg.Store.GetHostKeyPin(s.ctx, pinKey(s.open.InstanceID, s.open.Port))
		switch {
		case err == nil:
			if pin.Fingerprint == fp && pin.HostKey == authorized {
				s.sendJSON(hostKeyMessage{Type: "hostkey", Fingerprint: fp, Known: true})
				return nil
			}
			s.t.log.Warn("terminal refused: the instance's host key changed", "instance", s.open.InstanceID,
				"expected", pin.Fingerprint, "got", fp, "principal", s.caller.Principal.ARN)
			s.sendJSON(hostKeyChangedMessage{Type: "hostkey-changed", Expected: pin.Fingerprint, Got: fp})
			return errRefusedHostKey
		case !errors.Is(err, store.ErrNotFound):
			return fmt.Errorf("webterm: host key pin of %s: %w", s.open.InstanceID, err)
		}
		s.sendJSON(hostKeyMessage{Type: "hostkey", Fingerprint: fp, Known: false})
		if !s.waitTrust(fp) {
			return errRefusedHostKey
		}
		err = s.t.cfg.Store.PutHostKeyPin(s.ctx, store.HostKeyPin{InstanceID: pinKey(s.open.InstanceID, s.open.Port), HostKey: authorized, Fingerprint: fp,
			PinnedBy: s.caller.Principal.ARN, PinnedAt: s.t.cfg.Now().UTC()})
		if err == nil {
			return nil
		}
		if !errors.Is(err, store.ErrConflict) {
			return fmt.Errorf("webterm: pin the host key of %s: %w", s.open.InstanceID, err)
		}
	}
	return errRefusedHostKey
}

// pinKey is the name a host key is pinned under: the instance id for
// port 22, "<instance id>:<port>" for any other port (as OpenSSH's
// known_hosts names [host]:port), so that another SSH service of the
// instance (another person's, on a port they may reach) neither pins a
// key for port 22 nor is refused for having a key of its own.
func pinKey(instanceID string, port int) string {
	if port == 0 || port == 22 {
		return instanceID
	}
	return instanceID + ":" + strconv.Itoa(port)
}

// waitTrust waits for the person to accept the key with fingerprint fp.
func (s *session) waitTrust(fp string) bool {
	timer := time.NewTimer(trustTimeout)
	defer timer.Stop()
	select {
	case got := <-s.trust:
		if got == fp {
			return true
		}
		s.sendError("HostKeyNotTrusted", "The accepted fingerprint "+got+" is not the instance's host key "+fp+".")
		return false
	case <-timer.C:
		s.sendError("HostKeyNotTrusted", "The instance's host key was not accepted in time.")
		return false
	case <-s.ctx.Done():
		return false
	}
}

// resetRequest is the body of POST /console/api/host-keys/reset.
type resetRequest struct {
	InstanceID string `json:"instanceId"`
	Port       int    `json:"port,omitempty"` // default 22
}

// serveResetHostKey serves POST /console/api/host-keys/reset: the next
// connection to the instance shows its host key as new. IAM action
// postern:ResetHostKey on the instance's ARN.
func (t *Terminal) serveResetHostKey(w http.ResponseWriter, r *http.Request) {
	c := t.caller(w, r)
	if c == nil {
		return
	}
	if !sameOrigin(r) || !t.cfg.CheckCSRF(r, r.Header.Get("X-Postern-CSRF")) {
		writeError(w, http.StatusForbidden, "InvalidCsrfToken", "The request's CSRF token or origin is missing or wrong; reload the page.")
		return
	}
	var req resetRequest
	if err := json.NewDecoder(io.LimitReader(r.Body, 4096)).Decode(&req); err != nil || !instanceIDPattern().MatchString(req.InstanceID) {
		writeError(w, http.StatusBadRequest, "InvalidInstanceID.Malformed", "The request needs a valid instanceId.")
		return
	}
	if req.Port < 0 || req.Port > 65535 {
		writeError(w, http.StatusBadRequest, "InvalidParameter", "The port must be between 1 and 65535.")
		return
	}
	resource := awsid.EC2ARN(t.cfg.Region, c.Principal.AccountID, "instance", req.InstanceID)
	if !t.check(w, r, c, ActionResetHostKey, resource, "", req.InstanceID, req) {
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
	defer cancel()
	err := t.cfg.Store.DeleteHostKeyPin(ctx, pinKey(req.InstanceID, req.Port))
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		t.log.Error("host key reset failed", "instance", req.InstanceID, "error", err)
		writeError(w, http.StatusInternalServerError, "InternalError", "The host key could not be reset.")
		return
	}
	t.log.Info("host key pin reset", "instance", req.InstanceID, "principal", c.Principal.ARN)
	writeJSON(w, http.StatusOK, map[string]any{"instanceId": req.InstanceID, "removed": err == nil})
}
