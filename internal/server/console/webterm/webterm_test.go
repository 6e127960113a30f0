package webterm_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/coder/websocket"
	"golang.org/x/crypto/ssh"

	"github.com/postern/postern/internal/cli"
	"github.com/postern/postern/internal/server/config"
	"github.com/postern/postern/internal/server/console/webterm"
	"github.com/postern/postern/internal/server/identity"
	"github.com/postern/postern/internal/server/inproc"
	"github.com/postern/postern/internal/store"
	"github.com/postern/postern/internal/testutil/hostenv"
	"github.com/postern/postern/internal/testutil/sshdtest"
	"github.com/postern/postern/internal/testutil/tunneltest"
)

// TestMain lets this test binary be sshd's AuthorizedKeysCommand: run as
// "authorized-keys …" it is `postern authorized-keys …` (the CLI's own
// code), as the e2e tests' real binary is.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == "authorized-keys" {
		os.Exit(cli.Main(context.Background(), os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
	}
	// The helper config the sshd's AuthorizedKeysCommandUser reads is
	// written with the process's umask: a developer's 077 made it
	// unreadable and every terminal test fail. The tests' environment is
	// their own.
	restore := hostenv.Isolate()
	code := m.Run()
	restore()
	os.Exit(code)
}

const (
	allowAll = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}`
	// noTunnel may look up instances and push keys, not open tunnels.
	noTunnel = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["ec2:Describe*","ec2-instance-connect:SendSSHPublicKey"],"Resource":"*"}]}`
	// describeOnly has no postern:* action.
	describeOnly = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"ec2:Describe*","Resource":"*"}]}`
	// viewer may replay and join sessions on any endpoint, nothing else.
	viewer = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["postern:GetSessionRecording","postern:JoinSession"],"Resource":"arn:aws:ec2:*:*:instance-connect-endpoint/*"}]}`
)

// fixture is a real server, a real sshd whose keys come only from
// `postern authorized-keys`, and the terminal mounted on a TLS test
// server that plays the console (its Resolve maps a cookie to a user
// with real credentials).
type fixture struct {
	env      *tunneltest.Env
	sshd     *sshdtest.Server
	term     *webterm.Terminal
	web      *httptest.Server
	instance string
	osUser   string
	callers  map[string]*webterm.Caller
	loop     *inproc.Loop
	recDir   string
	console  config.Console
}

// mount serves a new Terminal with the console settings c on a new TLS
// test server (the fixture's term and web).
func (f *fixture) mount(t *testing.T, c config.Console) {
	t.Helper()
	f.recDir = filepath.Join(t.TempDir(), "data", "recordings")
	c.RecordingsDir = f.recDir
	f.console = c
	logger := slog.New(slog.DiscardHandler)
	term, err := webterm.New(webterm.Config{
		Resolve: f.resolve,
		CheckCSRF: func(r *http.Request, token string) bool {
			c, err := r.Cookie("who")
			return err == nil && token == "csrf-"+c.Value
		},
		Loop:       f.loop,
		Region:     f.env.Region,
		Host:       f.env.DNSName(),
		Authorizer: identity.NewAuthorizer(f.env.Server.Store, nil),
		Store:      f.env.Server.Store,
		Console:    c,
		DataDir:    filepath.Dir(f.recDir),
		Logger:     logger,
	})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	term.Register(mux)
	f.term = term
	f.web = httptest.NewTLSServer(mux)
	web := f.web
	t.Cleanup(func() {
		web.Close()
		term.Close()
	})
}

// withConsole is the fixture with another Terminal, of console settings c.
func (f *fixture) withConsole(t *testing.T, c config.Console) *fixture {
	g := *f
	g.mount(t, c)
	return &g
}

// newFixture starts the server, its sshd and a Terminal; the server's
// tunnel ports are the sshd's and extraPorts.
func newFixture(t *testing.T, extraPorts ...int) *fixture {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("sshd's AuthorizedKeysCommand needs a root-owned helper; CI runs as root")
	}
	me, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	helperBin := sshdtest.SafeExecutable(t, os.Args[0])
	helperConfig := filepath.Join(filepath.Dir(helperBin), "instance.json") // readable by nobody
	sshd := sshdtest.Start(t, sshdtest.Options{NoAuthorizedKeysFile: true, ExtraConfig: []string{
		fmt.Sprintf("AuthorizedKeysCommand %s authorized-keys --config %s -- %%u %%f", helperBin, helperConfig),
		"AuthorizedKeysCommandUser nobody",
	}})
	env := tunneltest.Start(t, tunneltest.Options{Config: func(c *config.Server) {
		c.Tunnel.Ports = []string{strconv.Itoa(sshd.Port)}
		for _, p := range extraPorts {
			c.Tunnel.Ports = append(c.Tunnel.Ports, strconv.Itoa(p))
		}
	}})
	instance := env.Server.Local.InstanceID
	var out, errOut bytes.Buffer
	if code := cli.Main(context.Background(), []string{"instance", "init", "--instance-id", instance, "--keys-url", env.URL,
		"--signer-key-file", filepath.Join(env.Dir, "ssh-signer.pub"), "--config", helperConfig}, nil, &out, &errOut); code != 0 {
		t.Fatalf("instance init: %d %s %s", code, out.String(), errOut.String())
	}

	f := &fixture{env: env, sshd: sshd, instance: instance, osUser: me.Username, callers: map[string]*webterm.Caller{}}
	authn, err := identity.NewAuthenticator(identity.AuthConfig{Store: env.Server.Store, Sealer: env.Server.Sealer,
		AccountID: env.Server.AccountID, Region: env.Region})
	if err != nil {
		t.Fatal(err)
	}
	for name, pol := range map[string]string{"alice": allowAll, "bob": noTunnel, "carol": describeOnly, "dave": viewer} {
		creds := env.NewUser(name, pol)
		f.callers[name] = &webterm.Caller{Credentials: creds, Principal: principal(t, env, authn, creds)}
	}

	f.loop = inproc.New(env.Server.Handler(), slog.New(slog.DiscardHandler))
	t.Cleanup(func() { f.loop.Close() })
	f.mount(t, config.Console{RecordSessions: true, RecordingMaxMB: 1, RecordingRetentionDays: 90})
	return f
}

// principal authenticates a request signed with creds, as the console's
// session lookup would give it.
func principal(t *testing.T, env *tunneltest.Env, authn *identity.Authenticator, creds aws.Credentials) *identity.Principal {
	t.Helper()
	body := []byte("Action=GetCallerIdentity&Version=2011-06-15")
	req, err := http.NewRequest(http.MethodPost, "https://"+env.DNSName()+"/", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
	sum := sha256.Sum256(body)
	if err := v4.NewSigner().SignHTTP(context.Background(), creds, req, hex.EncodeToString(sum[:]), "sts", env.Region, time.Now()); err != nil {
		t.Fatal(err)
	}
	p, _, err := authn.Authenticate(context.Background(), req, body)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func (f *fixture) resolve(r *http.Request) (*webterm.Caller, error) {
	c, err := r.Cookie("who")
	if err != nil {
		return nil, err
	}
	base := f.callers[c.Value]
	if base == nil {
		return nil, errors.New("no such session")
	}
	caller := *base
	caller.Remote, err = netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return nil, err
	}
	caller.UserAgent = "postern-console/test (" + r.UserAgent() + ")"
	return &caller, nil
}

// header is what the page's requests carry: the session cookie and the
// page's own origin.
func (f *fixture) header(who string) http.Header {
	h := http.Header{}
	h.Set("Origin", f.web.URL)
	if who != "" {
		h.Set("Cookie", "who="+who)
	}
	return h
}

// browser is the page's side of a WebSocket.
type browser struct {
	t    *testing.T
	ws   *websocket.Conn
	msgs chan message
	out  bytes.Buffer // terminal output so far
	end  error        // how the WebSocket ended, once msgs is closed
}

type message struct {
	typ  websocket.MessageType
	data []byte
}

func (f *fixture) dial(t *testing.T, path string, h http.Header) (*browser, *http.Response, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	ws, resp, err := websocket.Dial(ctx, "wss"+strings.TrimPrefix(f.web.URL, "https")+path,
		&websocket.DialOptions{HTTPClient: f.web.Client(), HTTPHeader: h})
	if err != nil {
		return nil, resp, err
	}
	ws.SetReadLimit(1 << 20)
	b := &browser{t: t, ws: ws, msgs: make(chan message, 4096)}
	go func() {
		defer close(b.msgs)
		for {
			typ, data, err := ws.Read(context.Background())
			if err != nil {
				b.end = err
				return
			}
			b.msgs <- message{typ, data}
		}
	}()
	t.Cleanup(func() { ws.CloseNow() })
	return b, resp, nil
}

// open connects a terminal as who.
func (f *fixture) open(t *testing.T, who string, cols, rows int) *browser {
	t.Helper()
	b, _, err := f.dial(t, "/console/api/terminal", f.header(who))
	if err != nil {
		t.Fatalf("terminal WebSocket: %v", err)
	}
	b.sendJSON(map[string]any{"csrf": "csrf-" + who, "instanceId": f.instance, "osUser": f.osUser, "port": f.sshd.Port, "cols": cols, "rows": rows})
	return b
}

func (b *browser) sendJSON(v any) {
	b.t.Helper()
	p, _ := json.Marshal(v)
	if err := b.ws.Write(context.Background(), websocket.MessageText, p); err != nil {
		b.t.Fatalf("send: %v", err)
	}
}

func (b *browser) type_(s string) {
	b.t.Helper()
	if err := b.ws.Write(context.Background(), websocket.MessageBinary, []byte(s)); err != nil {
		b.t.Fatalf("type: %v", err)
	}
}

// next returns the next text message (collecting output on the way);
// nil when the WebSocket ended.
func (b *browser) next() map[string]any {
	b.t.Helper()
	timer := time.NewTimer(30 * time.Second)
	defer timer.Stop()
	for {
		select {
		case m, ok := <-b.msgs:
			if !ok {
				return nil
			}
			if m.typ == websocket.MessageBinary {
				b.out.Write(m.data)
				continue
			}
			var v map[string]any
			if err := json.Unmarshal(m.data, &v); err != nil {
				b.t.Fatalf("text message %q: %v", m.data, err)
			}
			return v
		case <-timer.C:
			b.t.Fatalf("no message in 30 s; output so far:\n%s", b.out.String())
		}
	}
}

// expect reads the next text message and requires its type.
func (b *browser) expect(typ string) map[string]any {
	b.t.Helper()
	v := b.next()
	if v == nil || v["type"] != typ {
		// b.end is the reader's to write until it closes msgs (next
		// returned nil): read it only then.
		end := "still open"
		if v == nil {
			end = fmt.Sprint(b.end)
		}
		b.t.Fatalf("got %v (WebSocket end: %v), want a %q message; output:\n%s", v, end, typ, b.out.String())
	}
	return v
}

// waitOutput reads until the terminal output holds s.
func (b *browser) waitOutput(s string) {
	b.t.Helper()
	timer := time.NewTimer(30 * time.Second)
	defer timer.Stop()
	for !strings.Contains(b.out.String(), s) {
		select {
		case m, ok := <-b.msgs:
			if !ok {
				b.t.Fatalf("the WebSocket ended (%v) before the output showed %q:\n%s", b.end, s, b.out.String())
			}
			if m.typ == websocket.MessageBinary {
				b.out.Write(m.data)
			} else {
				b.t.Fatalf("message %s while waiting for %q", m.data, s)
			}
		case <-timer.C:
			b.t.Fatalf("the output did not show %q in 30 s:\n%s", s, b.out.String())
		}
	}
}

// connect opens a terminal as who, accepts the host key when it is new,
// and returns the browser and the tunnel id.
func (f *fixture) connect(t *testing.T, who string, wantKnown bool) (*browser, string) {
	t.Helper()
	b := f.open(t, who, 80, 24)
	hk := b.expect("hostkey")
	fp := ssh.FingerprintSHA256(f.sshd.HostKey)
	if hk["fingerprint"] != fp || hk["known"] != wantKnown {
		t.Fatalf("hostkey message %v, want fingerprint %s known %v", hk, fp, wantKnown)
	}
	if !wantKnown {
		b.sendJSON(map[string]any{"type": "trust-host-key", "fingerprint": fp})
	}
	c := b.expect("connected")
	id, _ := c["tunnelId"].(string)
	if !strings.HasPrefix(id, "tnl-") || c["recording"] != f.console.RecordSessions {
		t.Fatalf("connected %v", c)
	}
	return b, id
}

func marker() string {
	b := make([]byte, 6)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// echo types an echo whose output differs from what was typed (the shell
// computes 6*7) and waits for it.
func (b *browser) echo(m string) {
	b.t.Helper()
	b.type_("echo " + m + "-$((6*7))\r")
	b.waitOutput(m + "-42")
}

// closeTunnelEvent waits for the tunnel's CloseTunnel record.
func (f *fixture) closeTunnelEvent(t *testing.T, tunnelID string) map[string]any {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		evs, err := f.env.Server.Store.ListEvents(context.Background(), store.EventQuery{EventName: "CloseTunnel", TunnelID: tunnelID})
		if err != nil {
			t.Fatal(err)
		}
		if len(evs) == 1 {
			var rec map[string]any
			if err := json.Unmarshal([]byte(evs[0].Body), &rec); err != nil {
				t.Fatal(err)
			}
			return rec
		}
		if time.Now().After(deadline) {
			t.Fatalf("no CloseTunnel record of %s in 30 s (%d)", tunnelID, len(evs))
		}
		time.Sleep(50 * time.Millisecond) // polling the store for a record written asynchronously
	}
}

func (f *fixture) get(t *testing.T, who, path string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, f.web.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header = f.header(who)
	resp, err := f.web.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, body
}

func (f *fixture) resetHostKey(t *testing.T, who, csrf string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, f.web.URL+"/console/api/host-keys/reset", strings.NewReader(`{"instanceId":"`+f.instance+`","port":`+strconv.Itoa(f.sshd.Port)+`}`))
	if err != nil {
		t.Fatal(err)
	}
	req.Header = f.header(who)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Postern-CSRF", csrf)
	resp, err := f.web.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, body
}

func errorCode(body []byte) string {
	var e struct{ Code string }
	_ = json.Unmarshal(body, &e)
	return e.Code
}

// TestTerminal drives the terminal as the console's page does, against a
// real server and a real sshd that authorizes only pushed keys.
func TestTerminal(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	var firstTunnel, firstMarker string

	t.Run("connect, echo, resize, close", func(t *testing.T) {
		b, id := f.connect(t, "alice", false)
		firstTunnel, firstMarker = id, marker()
		b.echo(firstMarker)
		b.sendJSON(map[string]any{"type": "resize", "cols": 100, "rows": 33})
		b.type_("stty size\r")
		b.waitOutput("33 100")
		// Closing the page ends the SSH session and the tunnel.
		b.ws.Close(websocket.StatusGoingAway, "")
		rec := f.closeTunnelEvent(t, id)
		d, _ := rec["serviceEventDetails"].(map[string]any)
		if in, _ := d["bytesIn"].(float64); in <= 0 {
			t.Fatalf("CloseTunnel without bytes in: %v", rec)
		}
		if out, _ := d["bytesOut"].(float64); out <= 0 {
			t.Fatalf("CloseTunnel without bytes out: %v", rec)
		}
		if ua, _ := rec["userAgent"].(string); !strings.HasPrefix(ua, "postern-console/test") {
			t.Fatalf("CloseTunnel user agent %q", ua)
		}
		opens, err := f.env.Server.Store.ListEvents(ctx, store.EventQuery{EventName: "OpenTunnel", TunnelID: id})
		if err != nil || len(opens) != 1 || opens[0].Username != "alice" {
			t.Fatalf("OpenTunnel of %s: %+v %v", id, opens, err)
		}
		var open map[string]any
		_ = json.Unmarshal([]byte(opens[0].Body), &open)
		if open["sourceIPAddress"] != "127.0.0.1" {
			t.Fatalf("OpenTunnel source %v, want the browser's 127.0.0.1", open["sourceIPAddress"])
		}
		keys, err := f.env.Server.Store.ListEvents(ctx, store.EventQuery{EventName: "SendSSHPublicKey", Username: "alice"})
		if err != nil || len(keys) == 0 {
			t.Fatalf("no SendSSHPublicKey record of alice: %v", err)
		}
	})

	t.Run("recording", func(t *testing.T) {
		path := filepath.Join(f.recDir, firstTunnel+".cast")
		st, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm() != 0o600 {
			t.Fatalf("recording mode %v, want 0600", st.Mode().Perm())
		}
		raw, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(strings.TrimSuffix(string(raw), "\n"), "\n")
		var h struct {
			Version, Width, Height int
			Timestamp              int64
			Env                    map[string]string
		}
		if err := json.Unmarshal([]byte(lines[0]), &h); err != nil || h.Version != 2 || h.Width != 80 || h.Height != 24 ||
			h.Env["TERM"] != "xterm-256color" || time.Since(time.Unix(h.Timestamp, 0)) > time.Hour {
			t.Fatalf("header %s: %+v %v", lines[0], h, err)
		}
		var output strings.Builder
		var resized bool
		last := 0.0
		for _, l := range lines[1:] {
			var ev []any
			if err := json.Unmarshal([]byte(l), &ev); err != nil || len(ev) != 3 {
				t.Fatalf("event %s: %v", l, err)
			}
			at, ok1 := ev[0].(float64)
			kind, ok2 := ev[1].(string)
			data, ok3 := ev[2].(string)
			if !ok1 || !ok2 || !ok3 || at < last {
				t.Fatalf("event %s", l)
			}
			last = at
			switch kind {
			case "o":
				output.WriteString(data)
			case "r":
				resized = resized || data == "100x33"
			default:
				t.Fatalf("event kind %q (input is not recorded unless record_input)", kind)
			}
		}
		if !strings.Contains(output.String(), firstMarker+"-42") || !strings.Contains(output.String(), "33 100") || !resized {
			t.Fatalf("recording lacks the session (resized %v):\n%s", resized, output.String())
		}

		for _, tc := range []struct {
			who    string
			status int
			code   string
		}{
			{"alice", http.StatusOK, ""},
			{"dave", http.StatusOK, ""},
			{"carol", http.StatusForbidden, "AccessDenied"},
			{"", http.StatusUnauthorized, "NotSignedIn"},
		} {
			status, body := f.get(t, tc.who, "/console/api/recordings/"+firstTunnel)
			if status != tc.status || (tc.code == "" && !bytes.Equal(body, raw)) || (tc.code != "" && errorCode(body) != tc.code) {
				t.Errorf("%s: replay: %d %.200s, want %d %s", tc.who, status, body, tc.status, tc.code)
			}
			if tc.who == "" {
				continue
			}
			status, body = f.get(t, tc.who, "/console/api/recordings")
			var list struct {
				Recordings []struct {
					TunnelID, InstanceID, User string
					Size                       int64
					Live                       bool
				}
			}
			_ = json.Unmarshal(body, &list)
			visible := len(list.Recordings) == 1 && list.Recordings[0].TunnelID == firstTunnel && list.Recordings[0].InstanceID == f.instance &&
				list.Recordings[0].Size == int64(len(raw)) && !list.Recordings[0].Live && strings.HasSuffix(list.Recordings[0].User, ":user/alice")
			if status != http.StatusOK || visible != (tc.status == http.StatusOK) {
				t.Errorf("%s: list: %d %s", tc.who, status, body)
			}
		}
		// The replays are on record, linked to the tunnel.
		evs, err := f.env.Server.Store.ListEvents(ctx, store.EventQuery{EventName: "GetSessionRecording", TunnelID: firstTunnel})
		if err != nil || len(evs) != 3 {
			t.Fatalf("GetSessionRecording records: %d %v", len(evs), err)
		}
		if status, body := f.get(t, "alice", "/console/api/recordings/tnl-0000000000000000f"); status != http.StatusNotFound || errorCode(body) != "RecordingNotFound" {
			t.Errorf("missing recording: %d %s", status, body)
		}
		// A person without the action cannot tell a tunnel with a
		// recording (or a live session) from one without: both are
		// refused alike, and the refusal does not name the endpoint.
		const unknown = "tnl-0000000000000000f"
		for _, suffix := range []string{"", "/live"} {
			known, knownBody := f.get(t, "carol", "/console/api/recordings/"+firstTunnel+suffix)
			missing, missingBody := f.get(t, "carol", "/console/api/recordings/"+unknown+suffix)
			if known != http.StatusForbidden || missing != known ||
				!bytes.Equal(bytes.ReplaceAll(knownBody, []byte(firstTunnel), []byte(unknown)), missingBody) {
				t.Errorf("carol %q: existing %d %s, unknown %d %s", suffix, known, knownBody, missing, missingBody)
			}
		}
		// Those allowed on every endpoint still hear that it is not live.
		if status, body := f.get(t, "dave", "/console/api/recordings/"+firstTunnel+"/live"); status != http.StatusNotFound || errorCode(body) != "SessionNotLive" {
			t.Errorf("dave: not live: %d %s", status, body)
		}
	})

	t.Run("live", func(t *testing.T) {
		b, id := f.connect(t, "alice", true)
		before := marker()
		b.echo(before)
		live := "/console/api/recordings/" + id + "/live"
		if _, resp, err := f.dial(t, live, f.header("carol")); err == nil || resp == nil || resp.StatusCode != http.StatusForbidden {
			t.Fatalf("carol joined: %v %v", resp, err)
		}
		v, _, err := f.dial(t, live, f.header("dave"))
		if err != nil {
			t.Fatal(err)
		}
		v.sendJSON(map[string]string{"csrf": "csrf-dave"})
		after := marker()
		b.echo(after)
		// The viewer gets the header, what came before it joined, then
		// what follows; it ends when the session does.
		var got strings.Builder
		timer := time.NewTimer(30 * time.Second)
		defer timer.Stop()
		for !strings.Contains(got.String(), after+"-42") {
			select {
			case m, ok := <-v.msgs:
				if !ok {
					t.Fatalf("the live stream ended (%v):\n%s", v.end, got.String())
				}
				got.Write(m.data)
			case <-timer.C:
				t.Fatalf("the live stream did not show %s:\n%s", after, got.String())
			}
		}
		if !strings.HasPrefix(got.String(), `{"version":2,`) || !strings.Contains(got.String(), before+"-42") {
			t.Fatalf("live stream:\n%s", got.String())
		}
		b.type_("exit\r")
		if c := b.expect("closed"); c["reason"] != "closed" {
			t.Fatalf("closed %v", c)
		}
		for range v.msgs { // bounded: the server closes the stream
		}
		if websocket.CloseStatus(v.end) != websocket.StatusNormalClosure {
			t.Fatalf("the live stream ended with %v", v.end)
		}
	})

	t.Run("refusals", func(t *testing.T) {
		// Each step is an API call as the person: what they may not do
		// comes back as AWS's own refusal.
		for _, tc := range []struct {
			who, code, message string
		}{
			{"dave", "UnauthorizedOperation", "is not authorized to perform: ec2:DescribeInstances"},
			{"carol", "AccessDeniedException", "is not authorized to perform: ec2-instance-connect:SendSSHPublicKey"},
			{"bob", "AccessDeniedException", "is not authorized to perform: ec2-instance-connect:OpenTunnel"},
		} {
			b := f.open(t, tc.who, 80, 24)
			e := b.expect("error")
			if msg, _ := e["message"].(string); e["code"] != tc.code || !strings.Contains(msg, tc.message) {
				t.Errorf("%s: error %v, want %s: …%s…", tc.who, e, tc.code, tc.message)
			}
		}
	})

	t.Run("cross-site and CSRF", func(t *testing.T) {
		h := f.header("alice")
		h.Set("Origin", "https://evil.example")
		if _, resp, err := f.dial(t, "/console/api/terminal", h); err == nil || resp == nil || resp.StatusCode != http.StatusForbidden {
			t.Fatalf("cross-site terminal: %v %v", resp, err)
		}
		b, _, err := f.dial(t, "/console/api/terminal", f.header("alice"))
		if err != nil {
			t.Fatal(err)
		}
		b.sendJSON(map[string]any{"csrf": "csrf-bob", "instanceId": f.instance, "osUser": f.osUser, "port": f.sshd.Port})
		if e := b.expect("error"); e["code"] != "InvalidCsrfToken" {
			t.Fatalf("error %v", e)
		}
		if status, body := f.resetHostKey(t, "alice", "wrong"); status != http.StatusForbidden {
			t.Fatalf("reset without the CSRF token: %d %s", status, body)
		}
	})

	t.Run("host key changed, reset", func(t *testing.T) {
		// Another key pinned for the instance: the real one is refused.
		// The pin of a port other than 22 is named "<instance>:<port>".
		pin := f.instance + ":" + strconv.Itoa(f.sshd.Port)
		if err := f.env.Server.Store.DeleteHostKeyPin(ctx, pin); err != nil {
			t.Fatal(err)
		}
		other := f.sshd.UserSigner.PublicKey()
		if err := f.env.Server.Store.PutHostKeyPin(ctx, store.HostKeyPin{InstanceID: pin, HostKey: strings.TrimSpace(string(ssh.MarshalAuthorizedKey(other))),
			Fingerprint: ssh.FingerprintSHA256(other), PinnedAt: time.Now()}); err != nil {
			t.Fatal(err)
		}
		b := f.open(t, "alice", 80, 24)
		c := b.expect("hostkey-changed")
		if c["expected"] != ssh.FingerprintSHA256(other) || c["got"] != ssh.FingerprintSHA256(f.sshd.HostKey) {
			t.Fatalf("hostkey-changed %v", c)
		}
		if v := b.next(); v != nil {
			t.Fatalf("after hostkey-changed: %v", v)
		}
		if status, body := f.resetHostKey(t, "carol", "csrf-carol"); status != http.StatusForbidden || errorCode(body) != "AccessDenied" {
			t.Fatalf("carol's reset: %d %s", status, body)
		}
		if status, body := f.resetHostKey(t, "alice", "csrf-alice"); status != http.StatusOK || !strings.Contains(string(body), `"removed":true`) {
			t.Fatalf("alice's reset: %d %s", status, body)
		}
		b2, _ := f.connect(t, "alice", false)
		b2.echo(marker())
	})

	t.Run("revoked", func(t *testing.T) {
		b, id := f.connect(t, "alice", true)
		b.echo(marker())
		if out, err := f.env.CallJSON(f.env.Admin, "TerminateTunnel", map[string]string{"TunnelId": id}); err != nil {
			t.Fatalf("TerminateTunnel: %s %v", out, err)
		}
		c := b.expect("closed")
		if c["reason"] != "revoked" || c["message"] == "" {
			t.Fatalf("closed %v", c)
		}
	})

	t.Run("recording settings", func(t *testing.T) {
		for _, tc := range []struct {
			name    string
			console config.Console
		}{
			{"off", config.Console{}},
			{"with input", config.Console{RecordSessions: true, RecordInput: true}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				g := f.withConsole(t, tc.console)
				b, id := g.connect(t, "alice", true)
				m := marker()
				b.echo(m)
				b.type_("exit\r")
				if c := b.expect("closed"); c["reason"] != "closed" {
					t.Fatalf("closed %v", c)
				}
				raw, err := os.ReadFile(filepath.Join(g.recDir, id+".cast"))
				if !tc.console.RecordSessions {
					if !errors.Is(err, fs.ErrNotExist) {
						t.Fatalf("a recording with record_sessions off: %v", err)
					}
					return
				}
				if err != nil {
					t.Fatal(err)
				}
				var typed strings.Builder
				for _, l := range strings.Split(strings.TrimSpace(string(raw)), "\n")[1:] {
					var ev []any
					if err := json.Unmarshal([]byte(l), &ev); err != nil {
						t.Fatalf("event %s: %v", l, err)
					}
					if ev[1] == "i" {
						typed.WriteString(ev[2].(string))
					}
				}
				if !strings.Contains(typed.String(), "echo "+m+"-$((6*7))\r") || !strings.Contains(typed.String(), "exit\r") {
					t.Fatalf("input events %q", typed.String())
				}
			})
		}
	})

	t.Run("sweep", func(t *testing.T) {
		old := time.Now().Add(-91 * 24 * time.Hour)
		if err := os.Chtimes(filepath.Join(f.recDir, firstTunnel+".cast"), old, old); err != nil {
			t.Fatal(err)
		}
		n, err := f.term.SweepRecordings(time.Now())
		if err != nil || n != 1 {
			t.Fatalf("sweep: %d %v", n, err)
		}
		for _, ext := range []string{".cast", ".json"} {
			if _, err := os.Stat(filepath.Join(f.recDir, firstTunnel+ext)); !errors.Is(err, fs.ErrNotExist) {
				t.Fatalf("%s%s after the sweep: %v", firstTunnel, ext, err)
			}
		}
	})
}
