// Package webterm is the console's terminal in the browser: a WebSocket
// (GET /console/api/terminal) over which the signed-in person gets an SSH
// shell on an instance. The server does what `postern ssh` does on a
// laptop, as that person: it looks the instance and its endpoint up,
// pushes an ephemeral key with SendSSHPublicKey, opens a tunnel through
// the front door (IAM OpenTunnel, security groups, concurrency, audit
// records) over an in-process connection that carries the browser's
// address, and runs an SSH client (golang.org/x/crypto/ssh) over it.
//
// It also pins each instance's SSH host key (store.HostKeys; an operator
// resets a pin with POST /console/api/host-keys/reset, IAM action
// postern:ResetHostKey), and, when console.record_sessions is on, records
// every session as asciicast v2 beside the audit trail, one file per
// tunnel id, replayable (postern:GetSessionRecording) and streamable live
// to a read-only viewer (postern:JoinSession).
//
// The browser side uses github.com/coder/websocket: a message-oriented
// WebSocket for net/http handlers (text and binary messages, close codes,
// pings), which is what a terminal relay needs; the tunnel side is
// internal/client's Dialer, the same code as the CLI's.
package webterm

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/postern/postern/internal/server/api"
	"github.com/postern/postern/internal/server/audit"
	"github.com/postern/postern/internal/server/config"
	"github.com/postern/postern/internal/server/identity"
	"github.com/postern/postern/internal/server/inproc"
	"github.com/postern/postern/internal/store"
)

// IAM actions of the console's terminal.
const (
	ActionGetSessionRecording = "postern:GetSessionRecording"
	ActionJoinSession         = "postern:JoinSession"
	ActionResetHostKey        = "postern:ResetHostKey"
	// EventSource is the audit records' eventSource for these actions.
	EventSource = "postern.amazonaws.com"
)

// Caller is the signed-in person a request comes from.
type Caller struct {
	Credentials aws.Credentials // the console session's (never sent to the browser)
	Principal   *identity.Principal
	Remote      netip.AddrPort // the browser's address
	UserAgent   string
}

// Config configures a Terminal.
type Config struct {
	// Resolve finds the caller of a request (its cookie); an error means
	// 401.
	Resolve func(r *http.Request) (*Caller, error)
	// CheckCSRF reports whether token is the caller's CSRF token.
	CheckCSRF  func(r *http.Request, token string) bool
	Loop       *inproc.Loop
	Region     string // the signing region
	Host       string // the Host (dnsName) the server answers to
	Authorizer *identity.Authorizer
	Store      store.Store
	// Audit records recording replays, live joins and host key resets;
	// default a Writer of its own on Store.
	Audit   *audit.Writer
	Console config.Console // recordings
	DataDir string
	Logger  *slog.Logger
	Now     func() time.Time
}

// Terminal serves the terminal's routes.
type Terminal struct {
	cfg Config
	log *slog.Logger
	dir string // recordings directory

	ctx    context.Context // ends with Close: every session ends
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu     sync.Mutex
	live   map[string]*recorder // tunnel id → the recording of a running session
	closed bool
}

// New returns a Terminal.
func New(cfg Config) (*Terminal, error) {
	if cfg.Resolve == nil || cfg.CheckCSRF == nil || cfg.Loop == nil || cfg.Region == "" || cfg.Host == "" || cfg.Authorizer == nil || cfg.Store == nil {
		return nil, errors.New("webterm: Config needs Resolve, CheckCSRF, Loop, Region, Host, Authorizer and Store")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Audit == nil {
		cfg.Audit = audit.NewWriter(cfg.Store, nil)
	}
	dir := cfg.Console.RecordingsDir
	if dir == "" {
		dir = "recordings"
	}
	if !filepath.IsAbs(dir) {
		dir = filepath.Join(cfg.DataDir, dir)
	}
	t := &Terminal{cfg: cfg, log: cfg.Logger, dir: dir, live: map[string]*recorder{}}
	t.ctx, t.cancel = context.WithCancel(context.Background())
	return t, nil
}

// Register mounts the terminal's routes on mux.
func (t *Terminal) Register(mux *http.ServeMux) {
	mux.HandleFunc("GET /console/api/terminal", t.serveTerminal)
	mux.HandleFunc("POST /console/api/host-keys/reset", t.serveResetHostKey)
	mux.HandleFunc("GET /console/api/recordings", t.serveListRecordings)
	mux.HandleFunc("GET /console/api/recordings/{tunnelId}", t.serveRecording)
	mux.HandleFunc("GET /console/api/recordings/{tunnelId}/live", t.serveLive)
}

// Close ends every running session (their tunnels close, their
// recordings are finished) and waits for them.
func (t *Terminal) Close() error {
	t.mu.Lock()
	t.closed = true
	t.mu.Unlock()
	t.cancel()
	t.wg.Wait()
	return nil
}

// begin counts a WebSocket that is being served, unless the Terminal is
// closed (then it answers 503).
func (t *Terminal) begin(w http.ResponseWriter) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		writeError(w, http.StatusServiceUnavailable, "ServiceUnavailable", "The console is shutting down.")
		return false
	}
	t.wg.Add(1)
	return true
}

// apiError is the JSON error body of the console's routes.
type apiError struct {
	Code    string `json:"Code"`
	Message string `json:"Message"`
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, status int, code, format string, args ...any) {
	writeJSON(w, status, apiError{Code: code, Message: fmt.Sprintf(format, args...)})
}

// sameOrigin reports whether a request comes from the console's own page:
// an Origin header naming this host with the listener's scheme, and no
// Sec-Fetch-Site other than same-origin. Browsers send Origin on every
// WebSocket handshake and every POST; a request without one is refused.
func sameOrigin(r *http.Request) bool {
	if s := r.Header.Get("Sec-Fetch-Site"); s != "" && s != "same-origin" {
		return false
	}
	o := r.Header.Get("Origin")
	if o == "" || o == "null" {
		return false
	}
	u, err := url.Parse(o)
	if err != nil || u.Path != "" || u.User != nil {
		return false
	}
	scheme := "https"
	if r.TLS == nil {
		scheme = "http"
	}
	return u.Scheme == scheme && u.Host == r.Host
}

// caller resolves the request's caller or answers 401.
func (t *Terminal) caller(w http.ResponseWriter, r *http.Request) *Caller {
	c, err := t.cfg.Resolve(r)
	if err != nil || c == nil || c.Principal == nil {
		writeError(w, http.StatusUnauthorized, "NotSignedIn", "Sign in to the console first.")
		return nil
	}
	return c
}

// authorize decides an action of the caller on resource: false with the
// refusal worded as AWS words it (AccessDenied) when the caller may not.
func (t *Terminal) authorize(ctx context.Context, c *Caller, action, resource string) (bool, *api.Denial, error) {
	info := identity.RequestInfo{SourceIP: c.Remote.Addr().String(), Secure: true}
	dec, err := t.cfg.Authorizer.Authorize(ctx, c.Principal, info, action, resource, nil)
	if err != nil {
		return false, nil, fmt.Errorf("webterm: authorize %s: %w", action, err)
	}
	if !dec.Allowed {
		return false, api.DenyError(api.ProtocolQuery, c.Principal.ARN, action, resource, dec), nil
	}
	return true, nil, nil
}

// check authorizes and records the decision; on refusal it answers the
// request. It returns whether the caller may go on.
func (t *Terminal) check(w http.ResponseWriter, r *http.Request, c *Caller, action, resource, tunnelID, resourceName string, params any) bool {
	ok, denial, err := t.authorize(r.Context(), c, action, resource)
	if err != nil {
		t.log.Error("authorization failed", "action", action, "error", err)
		writeError(w, http.StatusInternalServerError, "InternalError", "The request could not be authorized.")
		return false
	}
	code, msg := "", ""
	if !ok {
		code, msg = denial.Err.Code, denial.Err.Message
	}
	if err := t.record(r.Context(), c, action, resource, tunnelID, resourceName, params, code, msg); err != nil {
		t.log.Error("could not record the request; refusing it", "action", action, "error", err)
		writeError(w, http.StatusInternalServerError, "InternalError", "The request could not be recorded; try again.")
		return false
	}
	if !ok {
		writeError(w, denial.Err.Status, denial.Err.Code, "%s", denial.Err.Message)
		return false
	}
	return true
}

// record writes the audit record of one of the terminal's own actions.
func (t *Terminal) record(ctx context.Context, c *Caller, action, resource, tunnelID, resourceName string, params any, errCode, errMsg string) error {
	name := action[len("postern:"):]
	m := audit.Meta{AccountID: c.Principal.AccountID, Region: t.cfg.Region, Principal: c.Principal, AccessKeyID: c.Credentials.AccessKeyID,
		SourceIP: c.Remote.Addr().String(), UserAgent: c.UserAgent, Time: t.cfg.Now()}
	readOnly := action != ActionResetHostKey
	rtype := audit.ResourceTypeEICE
	if strings.Contains(resource, ":instance/") {
		rtype = "AWS::EC2::Instance"
	}
	rec := audit.APICall(m, EventSource, name, readOnly, params, nil, rtype, resource, errCode, errMsg)
	return t.cfg.Audit.Write(ctx, rec, tunnelID, resourceName)
}
