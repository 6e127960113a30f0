package webterm

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"regexp"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
	"golang.org/x/crypto/ssh"

	"github.com/postern/postern/internal/client"
	"github.com/postern/postern/internal/wire/awsid"
	"github.com/postern/postern/internal/wire/tunnelproto"
)

// Limits of a terminal session.
const (
	// firstMessageTimeout bounds the wait for the browser's first message.
	firstMessageTimeout = 30 * time.Second
	// trustTimeout bounds the wait for the person to accept a new host key.
	trustTimeout = 5 * time.Minute
	// connectTimeout bounds the lookup, the key push, the tunnel and the
	// SSH handshake (without the wait for trust).
	connectTimeout = 60 * time.Second
	// writeTimeout bounds one message to the browser.
	writeTimeout = 30 * time.Second
	maxMessage   = 64 << 10
	maxCols      = 1000
	maxRows      = 1000
	// Term is the terminal type requested for the pty.
	Term = "xterm-256color"
)

// Close reasons sent in {"type":"closed"}.
const (
	ReasonClosed      = "closed"
	ReasonRevoked     = "revoked"
	ReasonMaxDuration = "max-duration"
	ReasonTargetReset = "target-reset"
	ReasonError       = "error"
)

var (
	instanceIDPattern = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^i-[0-9a-f]{8,17}$`) })
	osUserPattern     = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9._-]{0,31}$`) })
)

// openMessage is the browser's first message.
type openMessage struct {
	CSRF       string `json:"csrf"`
	InstanceID string `json:"instanceId"`
	OSUser     string `json:"osUser"`
	Port       int    `json:"port"`
	Cols       int    `json:"cols"`
	Rows       int    `json:"rows"`
	// InputAcks asks for flow control of keystrokes: input-taken messages
	// (input.go), which the page waits for before it sends more.
	InputAcks bool `json:"inputAcks"`
}

// controlMessage is a text message from the browser after the first.
type controlMessage struct {
	Type        string `json:"type"`
	Cols        int    `json:"cols"`
	Rows        int    `json:"rows"`
	Fingerprint string `json:"fingerprint"`
}

// Messages to the browser.
type (
	hostKeyMessage struct {
		Type        string `json:"type"` // hostkey
		Fingerprint string `json:"fingerprint"`
		Known       bool   `json:"known"`
	}
	hostKeyChangedMessage struct {
		Type     string `json:"type"` // hostkey-changed
		Expected string `json:"expected"`
		Got      string `json:"got"`
	}
	connectedMessage struct {
		Type      string `json:"type"` // connected
		TunnelID  string `json:"tunnelId"`
		Recording bool   `json:"recording"`
		// InputAcks confirms that this server sends input-taken (the
		// page asked, openMessage.InputAcks): a page waits for them only
		// then, so that a server that does not know them (an older
		// replica) never leaves it holding keystrokes for good.
		InputAcks bool `json:"inputAcks,omitempty"`
	}
	errorMessage struct {
		Type    string `json:"type"` // error
		Code    string `json:"code"`
		Message string `json:"message"`
	}
	closedMessage struct {
		Type    string `json:"type"` // closed
		Reason  string `json:"reason"`
		Message string `json:"message,omitempty"`
	}
)

// errRefusedHostKey ends a session whose host key the person did not
// accept or that differs from the pinned one.
var errRefusedHostKey = errors.New("webterm: host key refused")

// session is one browser terminal.
type session struct {
	t      *Terminal
	caller *Caller
	ws     *websocket.Conn
	ctx    context.Context // ends when the browser goes or the session ends
	cancel context.CancelFunc
	open   openMessage

	wmu sync.Mutex // one message to the browser at a time

	trust chan string // fingerprints the person accepted
	// in holds the page's keystrokes and sizes, once the shell runs, until
	// they are applied (input.go): the page's reader never waits for the
	// shell.
	in     termInput
	signer ssh.Signer // the ephemeral key

	mu        sync.Mutex // guards the following fields
	ending    bool       // the session's end is closing the tunnel (endTunnel)
	finishRec func()     // finishes the running recording, once; nil before it starts
}

// termEvent is one message of the page for the shell: keystrokes, or a
// new terminal size when input is nil.
type termEvent struct {
	input      []byte
	cols, rows int
}

// serveTerminal serves GET /console/api/terminal.
func (t *Terminal) serveTerminal(w http.ResponseWriter, r *http.Request) {
	c := t.caller(w, r)
	if c == nil {
		return
	}
	if !sameOrigin(r) {
		writeError(w, http.StatusForbidden, "InvalidOrigin", "The terminal opens only from the console's own page.")
		return
	}
	if !t.begin(w) {
		return
	}
	defer t.wg.Done()
	ws, err := websocket.Accept(w, r, &websocket.AcceptOptions{})
	if err != nil {
		return // Accept answered
	}
	ws.SetReadLimit(maxMessage)
	ctx, cancel := context.WithCancel(t.ctx)
	defer cancel()
	s := &session{t: t, caller: c, ws: ws, ctx: ctx, cancel: cancel,
		trust: make(chan string, 1)}
	code, reason := s.run(r)
	_ = ws.Close(code, reason)
}

// run serves the session and returns the WebSocket close code and reason.
func (s *session) run(r *http.Request) (websocket.StatusCode, string) {
	if err := s.readOpen(r); err != nil {
		return websocket.StatusPolicyViolation, ""
	}
	go s.readBrowser()
	tg, tun, start, err := s.connect()
	if err != nil {
		return s.fail(err)
	}
	tc := &tunnelConn{t: tun}
	defer tc.Close()
	sshc, err := s.handshake(tc, tg)
	if err != nil {
		if errors.Is(err, errRefusedHostKey) || s.ctx.Err() != nil {
			return websocket.StatusNormalClosure, ""
		}
		// The front door answers 101 before the agent's dial: a target
		// that refuses or cannot be reached closes the tunnel before its
		// first byte, and the tunnel's CloseTunnel record, committed
		// before that close, holds the dial's failure: the page shows it
		// as any refusal, with its
		// code (ConnectionRefused, …), not as the end of a session.
		var ce *client.ClosedError
		if errors.As(tc.readError(), &ce) {
			if code, msg, ok := s.t.refusal(s.ctx, s.caller, tun.RequestID, start, ce); ok {
				s.t.log.Info("terminal session refused", "instance", s.open.InstanceID, "principal", s.caller.Principal.ARN, "code", code, "message", msg)
				s.sendError(code, msg)
				return websocket.StatusNormalClosure, ""
			}
		}
		return s.closeWith(tc, err)
	}
	defer sshc.Close()
	// The front door answers 101 before the tunnel's OpenTunnel record is
	// committed, but no byte flows before it is: after the handshake the
	// record is there.
	tunnelID, err := s.t.tunnelID(s.ctx, s.caller, tun.RequestID, start)
	if err != nil {
		return s.fail(err)
	}
	return s.shell(sshc, tc, tg, tunnelID)
}

// readOpen reads and checks the first message.
func (s *session) readOpen(r *http.Request) error {
	ctx, cancel := context.WithTimeout(s.ctx, firstMessageTimeout)
	defer cancel()
	typ, b, err := s.ws.Read(ctx)
	if err != nil {
		return err
	}
	var m openMessage
	if typ != websocket.MessageText || json.Unmarshal(b, &m) != nil {
		s.sendError("InvalidParameter", "The first message must be the JSON open request.")
		return errors.New("bad first message")
	}
	if !s.t.cfg.CheckCSRF(r, m.CSRF) {
		s.sendError("InvalidCsrfToken", "The request's CSRF token is missing or wrong; reload the page.")
		return errors.New("bad CSRF token")
	}
	if m.OSUser == "" {
		m.OSUser = "ec2-user"
	}
	if m.Port == 0 {
		m.Port = 22
	}
	if m.Cols <= 0 || m.Cols > maxCols {
		m.Cols = 80
	}
	if m.Rows <= 0 || m.Rows > maxRows {
		m.Rows = 24
	}
	switch {
	case !instanceIDPattern().MatchString(m.InstanceID):
		s.sendError("InvalidInstanceID.Malformed", fmt.Sprintf("Invalid id: %q", m.InstanceID))
		return errors.New("bad instance id")
	case !osUserPattern().MatchString(m.OSUser):
		s.sendError("InvalidParameter", "The OS user name is not valid.")
		return errors.New("bad OS user")
	case m.Port < 1 || m.Port > 65535:
		s.sendError("InvalidParameter", "The port must be between 1 and 65535.")
		return errors.New("bad port")
	}
	s.open = m
	return nil
}

// readBrowser reads the browser's messages until it goes, then ends the
// session. It never waits for the shell (queue does not block), so a page
// that leaves is noticed whatever the shell does with its input.
func (s *session) readBrowser() {
	defer s.cancel()
	for {
		typ, b, err := s.ws.Read(s.ctx)
		if err != nil {
			return
		}
		if typ == websocket.MessageBinary {
			if len(b) > 0 && s.queue(termEvent{input: b}) {
				// Not from this goroutine: a page that does not read its
				// messages must not stop this one from reading.
				go s.sendJSON(inputDropped)
			}
			continue
		}
		var m controlMessage
		if json.Unmarshal(b, &m) != nil {
			continue
		}
		switch m.Type {
		case "resize":
			if m.Cols < 1 || m.Cols > maxCols || m.Rows < 1 || m.Rows > maxRows {
				continue
			}
			s.queue(termEvent{cols: m.Cols, rows: m.Rows})
			s.hook("handled resize")
		case "trust-host-key":
			select {
			case <-s.trust:
			default:
			}
			s.trust <- m.Fingerprint
		}
	}
}

// connect looks the instance up, pushes an ephemeral key and opens the
// tunnel, all as the caller.
func (s *session) connect() (client.Target, *client.Tunnel, time.Time, error) {
	ctx, cancel := context.WithTimeout(s.ctx, connectTimeout)
	defer cancel()
	c, m := s.caller, s.open
	var start time.Time
	tg, err := s.t.resolveTarget(ctx, c, m.InstanceID, m.Port)
	if err != nil {
		return tg, nil, start, err
	}
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return tg, nil, start, err
	}
	signer, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		return tg, nil, start, err
	}
	s.signer = signer
	if err := s.t.sendKey(ctx, c, m.InstanceID, m.OSUser, string(ssh.MarshalAuthorizedKey(signer.PublicKey()))); err != nil {
		return tg, nil, start, err
	}
	start = s.t.cfg.Now()
	tun, err := s.t.dial(ctx, c, tg) // ctx bounds the handshake only
	if err != nil {
		return tg, nil, start, err
	}
	return tg, tun, start, nil
}

// handshake runs the SSH handshake over the tunnel, checking the host key
// against the instance's pin.
func (s *session) handshake(tc *tunnelConn, tg client.Target) (*ssh.Client, error) {
	context.AfterFunc(s.ctx, func() { s.endTunnel(tc) })
	// An instance that never answers ends the attempt; the wait for the
	// person to accept a new key is part of the bound.
	timer := time.AfterFunc(connectTimeout+trustTimeout, func() { tc.Close() })
	defer timer.Stop()
	cfg := &ssh.ClientConfig{
		User:            s.open.OSUser,
		Auth:            []ssh.AuthMethod{ssh.PublicKeys(s.signer)},
		HostKeyCallback: func(_ string, _ net.Addr, key ssh.PublicKey) error { return s.checkHostKey(key) },
		ClientVersion:   "SSH-2.0-Postern-Console",
	}
	addr := net.JoinHostPort(tg.PrivateIP, fmt.Sprint(tg.RemotePort))
	conn, chans, reqs, err := ssh.NewClientConn(tc, addr, cfg)
	if err != nil {
		return nil, err
	}
	return ssh.NewClient(conn, chans, reqs), nil
}

// shell runs the pty and the shell and relays until either side ends.
func (s *session) shell(sshc *ssh.Client, tc *tunnelConn, tg client.Target, tunnelID string) (websocket.StatusCode, string) {
	opened := s.t.cfg.Now()
	sess, err := sshc.NewSession()
	if err != nil {
		return s.closeWith(tc, err)
	}
	defer sess.Close()
	cols, rows := s.open.Cols, s.open.Rows
	if c, r, ok := s.takeSize(); ok {
		cols, rows = c, r
	}
	modes := ssh.TerminalModes{ssh.ECHO: 1, ssh.TTY_OP_ISPEED: 38400, ssh.TTY_OP_OSPEED: 38400}
	if err := sess.RequestPty(Term, rows, cols, modes); err != nil {
		return s.closeWith(tc, err)
	}
	s.hook("pty-requested")
	stdin, err := sess.StdinPipe()
	if err != nil {
		return s.closeWith(tc, err)
	}
	stdout, err := sess.StdoutPipe()
	if err != nil {
		return s.closeWith(tc, err)
	}
	stderr, err := sess.StderrPipe()
	if err != nil {
		return s.closeWith(tc, err)
	}
	var rec *recorder
	finishRec := func() {}
	if s.t.cfg.Console.RecordSessions {
		p := s.caller.Principal
		meta := recordingMeta{
			TunnelID:    tunnelID,
			InstanceID:  s.open.InstanceID,
			EndpointID:  tg.EndpointID,
			EndpointARN: awsid.EC2ARN(s.t.cfg.Region, p.AccountID, "instance-connect-endpoint", tg.EndpointID),
			User:        p.ARN,
			UserName:    p.UserName,
			OSUser:      s.open.OSUser,
			SourceIP:    s.caller.Remote.Addr().String(),
			Start:       opened.UTC(),
		}
		rec, finishRec, err = s.record(meta, cols, rows)
		if errors.Is(err, errSessionEnding) {
			return s.closeWith(tc, err)
		}
		if err != nil {
			s.t.log.Error("could not start the session's recording; ending it", "tunnel", tunnelID, "error", err)
			s.sendError("RecordingFailed", "The session could not be recorded, and recording is required here.")
			return websocket.StatusInternalError, ""
		}
		defer finishRec()
	}
	if err := sess.Shell(); err != nil {
		return s.closeWith(tc, err)
	}
	s.startInput()
	s.sendJSON(connectedMessage{Type: "connected", TunnelID: tunnelID, Recording: rec != nil, InputAcks: s.open.InputAcks})

	var pumps sync.WaitGroup
	pump := func(r io.Reader) {
		defer pumps.Done()
		buf := make([]byte, 32<<10)
		for {
			n, err := r.Read(buf)
			if n > 0 {
				rec.output(buf[:n])
				if !s.sendBinary(buf[:n]) {
					s.cancel()
				}
			}
			if err != nil {
				return
			}
		}
	}
	pumps.Add(2)
	go pump(stdout)
	go pump(stderr)
	var recIn *recorder // nil records nothing
	if s.t.cfg.Console.RecordInput {
		recIn = rec
	}
	go s.relayEvents(stdin, sess.WindowChange, rec, recIn)
	waited := make(chan error, 1)
	go func() { waited <- sess.Wait() }()
	// The session's own goroutine waits for the end only: the page's
	// events do not go through it (when it is slow to run, keystrokes
	// must not overtake a resize, as they could when it applied resizes).
	s.hook("waiting")
	select {
	case <-waited:
		pumps.Wait() // the channel is closed: the pumps have read its last output
		return s.closeWith(tc, nil)
	case <-s.ctx.Done():
		// The browser went (or the server stops): end the shell and the
		// tunnel, so that the front door records the CloseTunnel. As in
		// endTunnel (which runs now too), the recording is finished before
		// the tunnel closes (closing the SSH client closes it); finishRec
		// returns only once it is, whoever runs it first.
		_ = sess.Close()
		finishRec()
		_ = sshc.Close()
		_ = tc.Close()
		s.hook("tunnel-closed")
		if s.t.ctx.Err() != nil {
			s.sendJSONNow(closedMessage{Type: "closed", Reason: ReasonError, Message: "The Postern server is shutting down."})
			return websocket.StatusGoingAway, ""
		}
		return websocket.StatusNormalClosure, ""
	}
}

// errSessionEnding refuses to start a recording once the session's end
// closes the tunnel.
var errSessionEnding = errors.New("webterm: the session is ending")

// record starts the session's recording, unless the session's end is
// already closing the tunnel, and returns it with the function that
// finishes it (once). endTunnel finishes it before it closes the tunnel:
// the lock makes a recording either finished before the tunnel closes or
// never started.
func (s *session) record(meta recordingMeta, cols, rows int) (*recorder, func(), error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ending {
		return nil, nil, errSessionEnding
	}
	rec, err := s.t.startRecording(meta, cols, rows)
	if err != nil {
		return nil, nil, err
	}
	s.finishRec = sync.OnceFunc(rec.finish)
	return rec, s.finishRec, nil
}

// endTunnel closes the tunnel when the session's context ends (the page
// went or the server stops), which unblocks whatever waits on the SSH
// connection. The recording, if one runs, is finished first: whoever sees
// the tunnel's CloseTunnel record (the front door commits it as the
// tunnel closes) finds the recording complete, not live, as when the
// shell exits.
func (s *session) endTunnel(tc *tunnelConn) {
	s.mu.Lock()
	s.ending = true
	finish := s.finishRec
	s.mu.Unlock()
	if finish != nil {
		finish()
	}
	_ = tc.Close()
	s.hook("tunnel-closed")
}

// testHook, set by tests only, runs at named points of every session
// (with the session's Terminal): a test holds a session there to make
// certain an interleaving that only timing decides otherwise.
var testHook atomic.Pointer[func(t *Terminal, point string)]

// hook runs the test hook, if any, at point.
func (s *session) hook(point string) {
	if h := testHook.Load(); h != nil {
		(*h)(s.t, point)
	}
}

// closeWith tells the browser how the session ended: by the tunnel's
// close code when the front door closed it, by err otherwise.
func (s *session) closeWith(tc *tunnelConn, err error) (websocket.StatusCode, string) {
	reason, msg := closeReason(tc.readError())
	if reason == ReasonClosed && err != nil && s.ctx.Err() == nil {
		reason, msg = ReasonError, err.Error()
	}
	s.sendJSON(closedMessage{Type: "closed", Reason: reason, Message: msg})
	return websocket.StatusNormalClosure, ""
}

// closeReason maps how the tunnel ended to a reason for the browser.
// The front door closes with 1008 for a revocation and for the maximum
// duration, telling them apart only in its message, which
// tunnelproto.MaxDurationCloseReason writes and IsMaxDurationCloseReason
// recognises; 1011 when the target's side failed (a reset).
func closeReason(err error) (string, string) {
	var ce *client.ClosedError
	if !errors.As(err, &ce) {
		return ReasonClosed, ""
	}
	switch ce.Code {
	case 1008:
		if tunnelproto.IsMaxDurationCloseReason(ce.Reason) {
			return ReasonMaxDuration, ce.Reason
		}
		return ReasonRevoked, ce.Reason
	case 1011:
		return ReasonTargetReset, ce.Reason
	}
	return ReasonError, ce.Error()
}

// fail tells the browser why the session could not start.
func (s *session) fail(err error) (websocket.StatusCode, string) {
	if s.ctx.Err() != nil {
		return websocket.StatusNormalClosure, ""
	}
	code, msg := wireError(err)
	s.t.log.Info("terminal session refused", "instance", s.open.InstanceID, "principal", s.caller.Principal.ARN, "code", code, "error", err)
	s.sendError(code, msg)
	return websocket.StatusNormalClosure, ""
}

func (s *session) sendError(code, message string) {
	s.sendJSON(errorMessage{Type: "error", Code: code, Message: message})
}

// sendJSON sends a text message; false when the browser is gone.
func (s *session) sendJSON(v any) bool {
	b, err := json.Marshal(v)
	if err != nil {
		return false
	}
	return s.send(s.ctx, websocket.MessageText, b)
}

// sendJSONNow is sendJSON after the session's context ended.
func (s *session) sendJSONNow(v any) {
	b, err := json.Marshal(v)
	if err != nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	s.send(ctx, websocket.MessageText, b)
}

func (s *session) sendBinary(p []byte) bool { return s.send(s.ctx, websocket.MessageBinary, p) }

func (s *session) send(ctx context.Context, typ websocket.MessageType, p []byte) bool {
	ctx, cancel := context.WithTimeout(ctx, writeTimeout)
	defer cancel()
	s.wmu.Lock()
	defer s.wmu.Unlock()
	return s.ws.Write(ctx, typ, p) == nil
}

// tunnelConn is a tunnel as the net.Conn the SSH client runs on; it keeps
// the first read error (how the front door ended the tunnel).
type tunnelConn struct {
	t       *client.Tunnel
	mu      sync.Mutex
	readErr error
	once    sync.Once
}

func (c *tunnelConn) Read(p []byte) (int, error) {
	n, err := c.t.Read(p)
	if err != nil {
		c.mu.Lock()
		if c.readErr == nil {
			c.readErr = err
		}
		c.mu.Unlock()
	}
	return n, err
}

func (c *tunnelConn) readError() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.readErr
}

func (c *tunnelConn) Write(p []byte) (int, error) { return c.t.Write(p) }

// Close ends the tunnel with a normal close, then drops the connection.
func (c *tunnelConn) Close() error {
	c.once.Do(func() {
		_ = c.t.CloseWrite()
		_ = c.t.Close()
	})
	return nil
}

func (c *tunnelConn) LocalAddr() net.Addr                { return tunnelAddr{} }
func (c *tunnelConn) RemoteAddr() net.Addr               { return tunnelAddr{} }
func (c *tunnelConn) SetDeadline(t time.Time) error      { return c.t.SetReadDeadline(t) }
func (c *tunnelConn) SetReadDeadline(t time.Time) error  { return c.t.SetReadDeadline(t) }
func (c *tunnelConn) SetWriteDeadline(t time.Time) error { return nil }

type tunnelAddr struct{}

func (tunnelAddr) Network() string { return "tunnel" }
func (tunnelAddr) String() string  { return "tunnel" }
