// Package keyservice carries pushed SSH keys from the server to the
// instances: `GET /keys/v1/{instance}/{user}` answers the signed entries
// (package sshkeys) of an instance's OS user as JSON. The server serves it
// to its agents (each only for its own VPC's instances) and, for the
// one-machine run, to its own host; an agent serves it on its private
// network to the instance helpers, fetching from the server over its own
// authenticated connection. Entries are signed, so whoever carries them
// cannot forge or alter one.
package keyservice

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"

	"github.com/postern/postern/internal/wire/sshkeys"
)

// Pattern is the route, for an http.ServeMux.
const Pattern = "GET /keys/v1/{instance}/{user}"

// Path returns the path of an instance's user's keys.
func Path(instanceID, user string) string {
	return "/keys/v1/" + url.PathEscape(instanceID) + "/" + url.PathEscape(user)
}

// Source returns the current entries of an instance's OS user.
type Source func(ctx context.Context, instanceID, user string) ([]sshkeys.Entry, error)

// Authorize decides whether the request may read an instance's keys; its
// error is answered with 403.
type Authorize func(r *http.Request, instanceID string) error

var (
	instanceRe = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^i-[0-9a-zA-Z]{1,32}$`) })
	userRe     = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9@._$-]{0,31}$`) })
)

// Handler serves Pattern.
func Handler(src Source, authz Authorize, log *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		inst, user := r.PathValue("instance"), r.PathValue("user")
		if !instanceRe().MatchString(inst) || !userRe().MatchString(user) {
			http.Error(w, "bad instance id or user name", http.StatusBadRequest)
			return
		}
		if authz != nil {
			if err := authz(r, inst); err != nil {
				http.Error(w, err.Error(), http.StatusForbidden)
				return
			}
		}
		entries, err := src(r.Context(), inst, user)
		if err != nil {
			log.Warn("key service: could not read keys", "instance", inst, "user", user, "error", err)
			http.Error(w, "keys unavailable", http.StatusBadGateway)
			return
		}
		if entries == nil {
			entries = []sshkeys.Entry{}
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		_ = json.NewEncoder(w).Encode(sshkeys.Response{Entries: entries})
	})
}

// maxResponse bounds what Fetch reads.
const maxResponse = 1 << 20

// Fetch reads an instance's user's entries from a key service at base
// (https://host:port).
func Fetch(ctx context.Context, hc *http.Client, base, instanceID, user string) ([]sshkeys.Entry, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(base, "/")+Path(instanceID, user), nil)
	if err != nil {
		return nil, err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse+1))
	if err != nil {
		return nil, err
	}
	if len(body) > maxResponse {
		return nil, errors.New("key service answer too large")
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("key service answered %d: %.200s", resp.StatusCode, strings.TrimSpace(string(body)))
	}
	var out sshkeys.Response
	if err := json.Unmarshal(body, &out); err != nil {
		return nil, fmt.Errorf("key service answer: %w", err)
	}
	return out.Entries, nil
}
