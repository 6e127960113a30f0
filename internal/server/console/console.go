// Package console serves Postern's web console under /console/ on the
// server's own TLS listener: the page (package ui), sign-in with a
// password (and MFA) or through an OpenID Connect provider (STS
// AssumeRoleWithWebIdentity; oidc.go), the bootstrap administrator's one-time link,
// sign-out, switch role, and a proxy that turns the page's API requests
// into real API calls signed on the server with the console session's
// credentials and sent through the server's own handler in-process
// (package inproc). Authentication, IAM policy and the audit trail are
// therefore exactly those of any client; the browser never holds AWS
// credentials, only an HttpOnly cookie that names its console session.
//
// Every console response carries a strict Content-Security-Policy and the
// other security headers; every POST needs the session's CSRF token and a
// same-origin Origin/Sec-Fetch-Site. Sign-in attempts are throttled per
// user name and per source address and each success or failure is a
// ConsoleLogin record in the trail.
package console

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/postern/postern/internal/server/audit"
	"github.com/postern/postern/internal/server/config"
	"github.com/postern/postern/internal/server/iamapi"
	"github.com/postern/postern/internal/server/identity"
	"github.com/postern/postern/internal/server/inproc"
	"github.com/postern/postern/internal/server/sealer"
	"github.com/postern/postern/internal/store"
)

// Config is what the console needs from the server.
type Config struct {
	Store         store.Store
	Sealer        *sealer.Sealer
	IAM           iamapi.Config // sign-in and the bootstrap link's session
	Authenticator *identity.Authenticator
	Authorizer    *identity.Authorizer
	Audit         *audit.Writer
	// Handler is the server's whole handler (its mux), served in-process
	// to the API proxy and the terminal.
	Handler           http.Handler
	AccountID, Region string
	// Host is the server's DNS name as clients reach it (host, with
	// :port unless 443): the Host the proxied calls are signed for.
	Host    string
	Console config.Console
	DataDir string
	Logger  *slog.Logger
	// Now defaults to time.Now.
	Now func() time.Time
	// Version is Postern's version (the console user agent carries it);
	// SetVersion may change it before serving.
	Version string
}

// Console is the console's handlers and state.
type Console struct {
	cfg      Config
	loop     *inproc.Loop
	csrfKey  []byte
	throttle *throttle
	cop      *http.CrossOriginProtection
	version  atomic.Pointer[string]
	term     terminal // nil when the browser terminal is not built in
	// idps are console.identity_providers, by id and in order.
	idps     map[string]*fedProvider
	idpList  []*fedProvider
	close    sync.Once
	closeErr error
}

// terminal is the browser terminal (package webterm) as the console
// drives it.
type terminal interface {
	Register(mux *http.ServeMux)
	SweepRecordings(now time.Time) (int, error)
	Close() error
}

// SweepRecordings deletes the terminal recordings older than
// console.recording_retention_days (none when it is 0 or recording is
// off); the server's sweep calls it.
func (c *Console) SweepRecordings(now time.Time) (int, error) {
	if c == nil || c.term == nil {
		return 0, nil
	}
	return c.term.SweepRecordings(now)
}

// New prepares the console: its CSRF key (made once, kept sealed in the
// store's settings so that every replica shares it) and the in-process
// loop its calls go through. Close releases them.
func New(ctx context.Context, cfg Config) (*Console, error) {
	if cfg.Store == nil || cfg.Sealer == nil || cfg.Authenticator == nil || cfg.Handler == nil || cfg.Logger == nil || cfg.Audit == nil {
		return nil, errors.New("console: Config needs Store, Sealer, Authenticator, Audit, Handler and Logger")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Version == "" {
		cfg.Version = "dev"
	}
	key, err := loadCSRFKey(ctx, cfg.Store, cfg.Sealer)
	if err != nil {
		return nil, err
	}
	c := &Console{
		cfg: cfg, csrfKey: key,
		throttle: newThrottle(cfg.Console.SignInAttempts, time.Duration(cfg.Console.SignInWindowSeconds)*time.Second, cfg.Now),
		cop:      http.NewCrossOriginProtection(),
	}
	c.version.Store(&cfg.Version)
	if c.idps, c.idpList, err = loadProviders(cfg.Console, cfg.DataDir); err != nil {
		return nil, err
	}
	c.loop = inproc.New(cfg.Handler, cfg.Logger.With("component", "console-inproc"))
	if c.term, err = c.newTerminal(); err != nil {
		c.loop.Close()
		return nil, fmt.Errorf("console: terminal: %w", err)
	}
	return c, nil
}

// SetVersion sets the version the console reports (before serving).
func (c *Console) SetVersion(v string) {
	if v != "" {
		c.version.Store(&v)
	}
}

func (c *Console) versionString() string { return *c.version.Load() }

// Register mounts the console under /console/ on mux. Every response
// under /console/ passes through the security headers.
func (c *Console) Register(mux *http.ServeMux) {
	cm := http.NewServeMux()
	cm.HandleFunc("GET /console/{path...}", c.servePage)
	cm.HandleFunc("POST /console/api/signin", c.sameOrigin(c.signIn))
	cm.HandleFunc("POST /console/api/signin-link", c.sameOrigin(c.signInLink))
	cm.HandleFunc("GET /console/api/providers", c.providers)
	cm.HandleFunc("POST /console/api/signin-oidc/start", c.sameOrigin(c.signInOIDCStart))
	cm.HandleFunc("GET /console/api/signin-oidc/pending", c.signInOIDCPending)
	cm.HandleFunc("POST /console/api/signin-oidc/finish", c.sameOrigin(c.signInOIDCFinish))
	cm.HandleFunc("POST /console/api/signin-oidc/cancel", c.sameOrigin(c.signInOIDCCancel))
	cm.HandleFunc("GET "+CallbackPath, c.oidcCallback)
	cm.HandleFunc("POST /console/api/signout", c.sameOrigin(c.signOut))
	cm.HandleFunc("GET /console/api/session", c.session)
	cm.HandleFunc("POST /console/api/switch-role", c.sameOrigin(c.signedIn(c.switchRole)))
	cm.HandleFunc("POST /console/api/switch-back", c.sameOrigin(c.signedIn(c.switchBack)))
	cm.HandleFunc("POST /console/api/call/{service}", c.sameOrigin(c.signedIn(c.call)))
	cm.HandleFunc("POST /console/api/{rest...}", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "NotFound", "No console API at "+r.URL.Path+".")
	})
	if c.term != nil {
		c.term.Register(cm)
	}
	mux.Handle("/console/", securityHeaders(cm))
}

// RedirectRoot wraps the API's `GET /` handler: a browser that opens the
// server's address (Accept: text/html, no query string, no Authorization
// header) is sent to the console; everything else (presigned API GETs)
// reaches api.
func (c *Console) RedirectRoot(api http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.RawQuery == "" && r.Header.Get("Authorization") == "" && acceptsHTML(r.Header.Values("Accept")) {
			http.Redirect(w, r, "/console/", http.StatusFound)
			return
		}
		api.ServeHTTP(w, r)
	})
}

// Close ends the browser terminal's sessions and the in-process loop.
func (c *Console) Close() error {
	c.close.Do(func() {
		var errs []error
		if c.term != nil {
			errs = append(errs, c.term.Close())
		}
		errs = append(errs, c.loop.Close())
		c.closeErr = errors.Join(errs...)
	})
	return c.closeErr
}

// sessionDuration is how long a console sign-in lasts.
func (c *Console) sessionDuration() time.Duration {
	return time.Duration(c.cfg.Console.SessionDurationSeconds) * time.Second
}

// consoleURL is the console's address as the server advertises it.
func (c *Console) consoleURL() string { return "https://" + c.cfg.Host + "/console/" }
