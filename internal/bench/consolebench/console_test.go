package consolebench

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
	"github.com/coder/websocket"
	"github.com/creack/pty"
	"golang.org/x/sys/unix"

	"github.com/postern/postern/internal/testutil/browser"
	"github.com/postern/postern/internal/testutil/posternbin"
	"github.com/postern/postern/internal/testutil/sshdtest"
)

func TestMain(m *testing.M) { os.Exit(posternbin.Run(m)) }

// posternBinary is the postern binary as a user runs it.
func posternBinary(b testing.TB) string { return posternbin.Path(b) }

const (
	password = "Correct-Horse-9-Battery"
	allowAll = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}`
	// alphabet makes the typed lines: line j, character i is
	// alphabet[(i+j) % len], lineLen characters then Enter.
	alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
	lineLen  = 30
)

// fixture is `postern server` (the binary, embedded agent), a real sshd
// whose keys come from `postern authorized-keys`, a console user, and a
// headless Chromium.
type fixture struct {
	bin      string
	dataDir  string
	url      string
	sshd     *sshdtest.Server
	osUser   string
	instance string
	b        *browser.Browser

	termReady bool
	termKeys  int // keys typed in the browser terminal so far
	ssh       *sshSession
	ws        *wsSession
}

func start(b *testing.B) *fixture {
	b.Helper()
	if os.Geteuid() != 0 {
		b.Skip("sshd's AuthorizedKeysCommand needs a root-owned helper; run as root")
	}
	me, err := user.Current()
	if err != nil {
		b.Fatal(err)
	}
	f := &fixture{bin: posternBinary(b), osUser: me.Username}
	helperBin := sshdtest.SafeExecutable(b, f.bin)
	helperConfig := filepath.Join(filepath.Dir(helperBin), "instance.json")
	f.sshd = sshdtest.Start(b, sshdtest.Options{NoAuthorizedKeysFile: true, ExtraConfig: []string{
		fmt.Sprintf("AuthorizedKeysCommand %s authorized-keys --config %s -- %%u %%f", helperBin, helperConfig),
		"AuthorizedKeysCommandUser nobody",
	}})
	f.dataDir = filepath.Join(b.TempDir(), "data")
	if err := os.MkdirAll(f.dataDir, 0o700); err != nil {
		b.Fatal(err)
	}
	cfg := fmt.Sprintf("version: 1\ntunnel:\n  ports: [\"22\", \"%d\"]\n", f.sshd.Port)
	if err := os.WriteFile(filepath.Join(f.dataDir, "postern.yaml"), []byte(cfg), 0o600); err != nil {
		b.Fatal(err)
	}
	f.startServer(b)

	ctx := context.Background()
	admin, err := awsconfig.LoadDefaultConfig(ctx,
		awsconfig.WithSharedConfigFiles([]string{filepath.Join(f.dataDir, "config")}),
		awsconfig.WithSharedCredentialsFiles([]string{filepath.Join(f.dataDir, "credentials")}),
		awsconfig.WithSharedConfigProfile("postern"))
	if err != nil {
		b.Fatal(err)
	}
	desc, err := ec2.NewFromConfig(admin).DescribeInstances(ctx, &ec2.DescribeInstancesInput{})
	if err != nil {
		b.Fatal(err)
	}
	for _, r := range desc.Reservations {
		for _, in := range r.Instances {
			if aws.ToString(in.PrivateIpAddress) == "127.0.0.1" {
				f.instance = aws.ToString(in.InstanceId)
			}
		}
	}
	if f.instance == "" {
		b.Fatal("no instance at 127.0.0.1")
	}
	if out, err := f.cli("instance", "init", "--instance-id", f.instance, "--keys-url", f.url,
		"--signer-key-file", filepath.Join(f.dataDir, "ssh-signer.pub"), "--config", helperConfig).CombinedOutput(); err != nil {
		b.Fatalf("instance init: %v\n%s", err, out)
	}
	im := iam.NewFromConfig(admin)
	if _, err := im.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String("alice")}); err != nil {
		b.Fatal(err)
	}
	if _, err := im.PutUserPolicy(ctx, &iam.PutUserPolicyInput{UserName: aws.String("alice"), PolicyName: aws.String("all"), PolicyDocument: aws.String(allowAll)}); err != nil {
		b.Fatal(err)
	}
	if _, err := im.CreateLoginProfile(ctx, &iam.CreateLoginProfileInput{UserName: aws.String("alice"), Password: aws.String(password)}); err != nil {
		b.Fatal(err)
	}

	pair, err := tls.LoadX509KeyPair(filepath.Join(f.dataDir, "server.pem"), filepath.Join(f.dataDir, "server-key.pem"))
	if err != nil {
		b.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(pair.Certificate[0])
	if err != nil {
		b.Fatal(err)
	}
	f.b = browser.Start(b, browser.Options{TrustCert: leaf, Timeout: 30 * time.Minute})
	return f
}

// startServer runs `postern server` and waits for its welcome text.
func (f *fixture) startServer(b *testing.B) {
	b.Helper()
	cmd := exec.Command(f.bin, "server", "--data-dir", f.dataDir, "--listen", "127.0.0.1:0")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	var log bytes.Buffer
	var mu sync.Mutex
	cmd.Stderr = io.Discard
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	ready := make(chan string, 1)
	done := make(chan struct{})
	go func() {
		defer close(done)
		sc := bufio.NewScanner(stdout)
		url := ""
		for sc.Scan() {
			line := sc.Text()
			mu.Lock()
			log.WriteString(line + "\n")
			mu.Unlock()
			if rest, ok := strings.CutPrefix(line, "Postern is running on "); ok {
				url = strings.Fields(rest)[0]
			}
			if url != "" && strings.TrimSpace(line) == "postern sts get-caller-identity" {
				ready <- url
				url = ""
			}
		}
		_ = cmd.Wait()
	}()
	b.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	})
	select {
	case f.url = <-ready:
	case <-done:
		mu.Lock()
		defer mu.Unlock()
		b.Fatalf("postern server exited:\n%s", log.String())
	case <-time.After(60 * time.Second):
		b.Fatal("postern server not ready after 60s")
	}
}

// cli is a postern command with the server's client environment.
func (f *fixture) cli(args ...string) *exec.Cmd {
	cmd := exec.Command(f.bin, args...)
	cmd.Env = append(os.Environ(),
		"AWS_SHARED_CREDENTIALS_FILE="+filepath.Join(f.dataDir, "credentials"),
		"AWS_CONFIG_FILE="+filepath.Join(f.dataDir, "config"),
		"AWS_PROFILE=postern")
	return cmd
}

// run runs browser actions within d.
func (f *fixture) run(b *testing.B, what string, d time.Duration, actions ...chromedp.Action[chromedp.Void]) {
	b.Helper()
	ctx, cancel := context.WithTimeout(f.b.Context(), d)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		f.b.Screenshot("failed-" + what)
		b.Fatalf("browser: %s: %v", what, err)
	}
}

func eval[T any](b *testing.B, f *fixture, expr string) T {
	b.Helper()
	ctx, cancel := context.WithTimeout(f.b.Context(), 30*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr, chromedp.EvalAwaitPromise))
	if err != nil {
		b.Fatalf("evaluate %.80s: %v", expr, err)
	}
	return v
}

// until polls the page on every DOM change until expr is truthy.
func until(expr string) chromedp.Action[chromedp.Void] {
	return chromedp.Poll[chromedp.Void](expr, chromedp.WithPollingMutation(), chromedp.WithPollingTimeout(0))
}

// fillSignIn puts alice's name and password into the sign-in form.
const fillSignIn = `(() => {
  const set = (id, v) => { const el = document.querySelector('[data-testid="' + id + '"]'); el.value = v; el.dispatchEvent(new Event('input', {bubbles: true})); };
  set('signin-username', 'alice'); set('signin-password', ` + "'" + password + "'" + `);
  return true;
})()`

// kbJS installs the page-side timer: a capturing keydown listener notes
// performance.now(); __kbArm(text, n) resolves __kb.p with the time from
// that keydown until n rows of the terminal read text (the DOM renderer
// draws in an animation frame: the time is until the echo is on screen).
const kbJS = `(() => {
  if (window.__kb) return true;
  window.__kb = {t0: 0, p: null};
  document.addEventListener('keydown', () => { window.__kb.t0 = performance.now(); }, true);
  const rowsText = () => Array.from(document.querySelector('.xterm-rows').children, (r) => r.textContent.replace(/\u00a0/g, ' ').trimEnd());
  window.__kbArm = (text, n) => {
    window.__kb.ws = 0;
    window.__kb.sent = 0;
    window.__kb.p = new Promise((resolve) => {
      const check = () => rowsText().filter((x) => x === text).length >= n;
      const obs = new MutationObserver(() => { if (check()) { obs.disconnect(); resolve(performance.now() - window.__kb.t0); } });
      obs.observe(document.querySelector('.xterm-rows'), {childList: true, subtree: true, characterData: true});
    });
    return true;
  };
  return true;
})()`

// wsHookJS wraps WebSocket send and onmessage handlers: the first binary
// message sent and received after __kbArm set window.__kb.sent and .ws.
const wsHookJS = `(() => {
  const send = WebSocket.prototype.send;
  WebSocket.prototype.send = function (data) {
    if (typeof data !== 'string' && window.__kb && !window.__kb.sent) window.__kb.sent = performance.now();
    return send.call(this, data);
  };
  const d = Object.getOwnPropertyDescriptor(WebSocket.prototype, 'onmessage');
  Object.defineProperty(WebSocket.prototype, 'onmessage', {
    configurable: true,
    get() { return d.get.call(this); },
    set(fn) {
      d.set.call(this, (ev) => {
        if (typeof ev.data !== 'string' && window.__kb && !window.__kb.ws) window.__kb.ws = performance.now();
        return fn(ev);
      });
    },
  });
})()`

// keyAt is the i-th key of the typed stream (lineLen characters, Enter,
// …) and the text of its line up to and with it.
func keyAt(i int) (key rune, line string) {
	j, k := i/(lineLen+1), i%(lineLen+1)
	var sb strings.Builder
	for c := 0; c < lineLen && c <= k; c++ {
		sb.WriteByte(alphabet[(c+j)%len(alphabet)])
	}
	if k == lineLen {
		return '\r', sb.String()
	}
	return rune(sb.String()[k]), sb.String()
}

// openTerminal signs in and opens the browser terminal to the instance
// with `cat >/dev/null` running.
func (f *fixture) openTerminal(b *testing.B) {
	b.Helper()
	if f.termReady {
		return
	}
	// Notes when the terminal's WebSocket delivers output after a key
	// (window.__kb.ws), to tell the network's share from the drawing's.
	if _, err := chromedp.Call(f.b.Context(), page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: wsHookJS}); err != nil {
		b.Fatal(err)
	}
	f.run(b, "sign in", time.Minute,
		chromedp.Navigate(f.url+"/console/"), chromedp.WaitVisible(browser.TestID("signin-form")),
		chromedp.Evaluate[chromedp.Void](fillSignIn), chromedp.Click(browser.TestID("signin-submit")),
		chromedp.WaitVisible(browser.TestID("nav")))
	f.run(b, "connect", time.Minute,
		chromedp.Navigate(fmt.Sprintf("%s/console/#/connect/%s?user=%s&port=%d", f.url, f.instance, f.osUser, f.sshd.Port)),
		chromedp.WaitVisible(browser.TestID("hostkey-trust")), chromedp.Click(browser.TestID("hostkey-trust")),
		until(`document.querySelector('[data-testid="terminal"]').dataset.state === 'connected'`),
		chromedp.Focus(chromedp.CSS(".xterm-helper-textarea"), chromedp.NodeReady),
		chromedp.Evaluate[chromedp.Void](kbJS),
		browser.TypeKeys("echo ready$((1+1)); cat >/dev/null\r"),
		until(`Array.from(document.querySelector('.xterm-rows').children).some((r) => r.textContent.trim() === 'ready2')`))
	f.termReady = true
}

// sshSession is `postern ssh` in a local pty, running `cat >/dev/null`.
type sshSession struct {
	cmd  *exec.Cmd
	pty  *os.File
	out  chan byte
	done chan struct{}
	keys int
}

func (f *fixture) openSSH(b *testing.B) *sshSession {
	b.Helper()
	if f.ssh != nil {
		return f.ssh
	}
	// -F /dev/null: the host user's own ~/.ssh/config cannot leak in.
	cmd := f.cli("ssh", "--ssh-port", strconv.Itoa(f.sshd.Port), f.osUser+"@"+f.instance, "-F", "/dev/null",
		"-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR")
	p, err := pty.StartWithSize(cmd, &pty.Winsize{Rows: 30, Cols: 120})
	if err != nil {
		b.Fatal(err)
	}
	s := &sshSession{cmd: cmd, pty: p, out: make(chan byte, 1<<16), done: make(chan struct{})}
	go func() {
		defer close(s.done)
		buf := make([]byte, 4096)
		for {
			n, err := p.Read(buf)
			for _, c := range buf[:n] {
				select {
				case s.out <- c:
				default: // nobody waits for this much output
				}
			}
			if err != nil {
				return
			}
		}
	}()
	b.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = p.Close()
		<-s.done
		_ = cmd.Wait()
	})
	if _, err := io.WriteString(p, "echo ready$((1+1)); cat >/dev/null\r"); err != nil {
		b.Fatal(err)
	}
	if err := s.waitFor([]byte("ready2\r\n"), time.Minute); err != nil {
		b.Fatalf("postern ssh: %v", err)
	}
	// ssh put the pty in raw mode: what comes back is the remote echo.
	if tio, err := unix.IoctlGetTermios(int(p.Fd()), ioctlGetTermios); err != nil || tio.Lflag&unix.ECHO != 0 {
		b.Fatalf("the local pty echoes (or: %v): the measure would be local", err)
	}
	f.ssh = s
	return s
}

// waitFor reads the session's output until it has seen want.
func (s *sshSession) waitFor(want []byte, d time.Duration) error {
	timer := time.NewTimer(d)
	defer timer.Stop()
	var seen []byte
	for !bytes.Contains(seen, want) {
		select {
		case c := <-s.out:
			seen = append(seen, c)
		case <-s.done:
			return fmt.Errorf("session ended; output %q", seen)
		case <-timer.C:
			return fmt.Errorf("no %q within %v; output %q", want, d, seen)
		}
	}
	return nil
}

// wsSession is the console's terminal WebSocket spoken from Go (the
// browser's protocol, without a browser), running `cat >/dev/null`.
type wsSession struct {
	ws   *websocket.Conn
	out  chan byte
	done chan struct{}
	keys int
}

func (f *fixture) openWS(b *testing.B) *wsSession {
	b.Helper()
	if f.ws != nil {
		return f.ws
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	jar, err := cookiejar.New(nil)
	if err != nil {
		b.Fatal(err)
	}
	hc := &http.Client{Jar: jar, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}} //nolint:gosec // loopback test server
	post := func(path, body, csrf string) *http.Response {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, f.url+path, strings.NewReader(body))
		if err != nil {
			b.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Origin", f.url)
		req.Header.Set("Sec-Fetch-Site", "same-origin")
		if csrf != "" {
			req.Header.Set("X-Postern-CSRF", csrf)
		}
		resp, err := hc.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		return resp
	}
	resp := post("/console/api/signin", `{"userName":"alice","password":"`+password+`"}`, "")
	var sess struct{ CsrfToken string }
	err = json.NewDecoder(resp.Body).Decode(&sess)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || err != nil || sess.CsrfToken == "" {
		b.Fatalf("sign in: %s %v", resp.Status, err)
	}
	ws, _, err := websocket.Dial(ctx, "wss"+strings.TrimPrefix(f.url, "https")+"/console/api/terminal",
		&websocket.DialOptions{HTTPClient: hc, HTTPHeader: http.Header{"Origin": {f.url}}})
	if err != nil {
		b.Fatal(err)
	}
	w := &wsSession{ws: ws, out: make(chan byte, 1<<16), done: make(chan struct{})}
	hello, _ := json.Marshal(map[string]any{"csrf": sess.CsrfToken, "instanceId": f.instance, "osUser": f.osUser, "port": f.sshd.Port, "cols": 120, "rows": 30})
	if err := ws.Write(ctx, websocket.MessageText, hello); err != nil {
		b.Fatal(err)
	}
	connected := make(chan error, 1)
	go func() {
		defer close(w.done)
		for {
			typ, msg, err := ws.Read(context.Background())
			if err != nil {
				connected <- err
				return
			}
			if typ == websocket.MessageText {
				var m struct{ Type, Fingerprint, Code, Message string }
				_ = json.Unmarshal(msg, &m)
				switch m.Type {
				case "hostkey":
					t, _ := json.Marshal(map[string]string{"type": "trust-host-key", "fingerprint": m.Fingerprint})
					_ = ws.Write(context.Background(), websocket.MessageText, t)
				case "connected":
					connected <- nil
				case "error", "closed", "hostkey-changed":
					connected <- fmt.Errorf("terminal: %s", msg)
				}
				continue
			}
			for _, c := range msg {
				select {
				case w.out <- c:
				default:
				}
			}
		}
	}()
	select {
	case err := <-connected:
		if err != nil {
			b.Fatal(err)
		}
	case <-ctx.Done():
		b.Fatal("terminal WebSocket: not connected within a minute")
	}
	b.Cleanup(func() {
		_ = ws.Close(websocket.StatusNormalClosure, "done")
		<-w.done
	})
	if err := ws.Write(ctx, websocket.MessageBinary, []byte("echo ready$((1+1)); cat >/dev/null\r")); err != nil {
		b.Fatal(err)
	}
	if err := w.waitFor([]byte("ready2\r\n"), time.Minute); err != nil {
		b.Fatal(err)
	}
	f.ws = w
	return w
}

func (w *wsSession) waitFor(want []byte, d time.Duration) error {
	timer := time.NewTimer(d)
	defer timer.Stop()
	var seen []byte
	for !bytes.Contains(seen, want) {
		select {
		case c := <-w.out:
			seen = append(seen, c)
		case <-w.done:
			return fmt.Errorf("session ended; output %q", seen)
		case <-timer.C:
			return fmt.Errorf("no %q within %v; output %q", want, d, seen)
		}
	}
	return nil
}

// BenchmarkConsole measures the console: keystroke-to-echo latency in the
// browser terminal beside `postern ssh`, and page load times.
func BenchmarkConsole(b *testing.B) {
	f := start(b)

	b.Run("keystroke", func(b *testing.B) {
		b.Run("browser", func(b *testing.B) {
			f.openTerminal(b)
			var lat, wire, sent []float64
			for b.Loop() {
				key, line := keyAt(f.termKeys)
				f.termKeys++
				if key == '\r' {
					// Enter moves on to a new line (cat writes to
					// /dev/null, so nothing else shows); not timed.
					f.run(b, "enter", 10*time.Second, browser.TypeKeys("\r"))
					continue
				}
				_ = eval[bool](b, f, fmt.Sprintf("window.__kbArm(%q, 1)", line))
				f.run(b, "key", 10*time.Second, browser.TypeKeys(string(key)))
				lat = append(lat, eval[float64](b, f, "window.__kb.p"))
				wire = append(wire, eval[float64](b, f, "window.__kb.ws ? window.__kb.ws - window.__kb.t0 : -1"))
				sent = append(sent, eval[float64](b, f, "window.__kb.sent ? window.__kb.sent - window.__kb.t0 : -1"))
			}
			report(b, lat)
			p50, p99 := percentiles(wire)
			b.ReportMetric(p50, "ws-p50-ms")
			b.ReportMetric(p99, "ws-p99-ms")
			p50, p99 = percentiles(sent)
			b.ReportMetric(p50, "sent-p50-ms")
			b.ReportMetric(p99, "sent-p99-ms")
		})
		b.Run("websocket", func(b *testing.B) {
			w := f.openWS(b)
			var lat []float64
			for b.Loop() {
				key, _ := keyAt(w.keys)
				w.keys++
				start := time.Now()
				if err := w.ws.Write(context.Background(), websocket.MessageBinary, []byte(string(key))); err != nil {
					b.Fatal(err)
				}
				want := []byte(string(key))
				if key == '\r' {
					want = []byte("\r\n")
				}
				if err := w.waitFor(want, 10*time.Second); err != nil {
					b.Fatal(err)
				}
				if key != '\r' {
					lat = append(lat, float64(time.Since(start).Microseconds())/1000)
				}
			}
			report(b, lat)
		})
		b.Run("postern-ssh", func(b *testing.B) {
			s := f.openSSH(b)
			var lat []float64
			for b.Loop() {
				key, _ := keyAt(s.keys)
				s.keys++
				start := time.Now()
				if _, err := s.pty.Write([]byte(string(key))); err != nil {
					b.Fatal(err)
				}
				want := []byte(string(key))
				if key == '\r' {
					want = []byte("\r\n")
				}
				if err := s.waitFor(want, 10*time.Second); err != nil {
					b.Fatal(err)
				}
				if key != '\r' {
					lat = append(lat, float64(time.Since(start).Microseconds())/1000)
				}
			}
			report(b, lat)
		})
	})

	b.Run("pageload", func(b *testing.B) {
		ctx := f.b.Context()
		if _, err := chromedp.Call(ctx, network.Enable, network.EnableParams{}); err != nil {
			b.Fatal(err)
		}
		if _, err := chromedp.Call(ctx, network.SetCacheDisabled, network.SetCacheDisabledParams{CacheDisabled: true}); err != nil {
			b.Fatal(err)
		}
		// Marks, from the navigation's start (performance.now()), when the
		// sign-in form and the endpoints table first appear.
		if _, err := chromedp.Call(ctx, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: `(() => {
  const mark = () => {
    if (!window.__formAt && document.querySelector('[data-testid="signin-username"]')) window.__formAt = performance.now();
    if (!window.__tableAt && document.querySelector('[data-testid^="row-eice-"]')) window.__tableAt = performance.now();
  };
  new MutationObserver(mark).observe(document, {childList: true, subtree: true});
})()`}); err != nil {
			b.Fatal(err)
		}
		// Start signed out, on the console.
		f.run(b, "open", time.Minute, chromedp.Navigate(f.url+"/console/"))
		signOut := `(async () => {
  const r = await fetch('/console/api/session');
  if (r.status !== 200) return true;
  const s = await r.json();
  await fetch('/console/api/signout', {method: 'POST', headers: {'X-Postern-CSRF': s.csrfToken}});
  return true;
})()`
		var form, toTable, reload []float64
		for b.Loop() {
			_ = eval[bool](b, f, signOut)
			f.run(b, "load the sign-in page", time.Minute, chromedp.Reload(), until(`window.__formAt`))
			form = append(form, eval[float64](b, f, "window.__formAt"))
			f.run(b, "sign in", time.Minute, chromedp.Evaluate[chromedp.Void](fillSignIn),
				chromedp.Evaluate[chromedp.Void](`window.__clickAt = performance.now(); document.querySelector('[data-testid="signin-submit"]').click()`),
				until(`window.__tableAt`))
			toTable = append(toTable, eval[float64](b, f, "window.__tableAt - window.__clickAt"))
			f.run(b, "reload the endpoints page", time.Minute, chromedp.Reload(), until(`window.__tableAt`))
			reload = append(reload, eval[float64](b, f, "window.__tableAt"))
		}
		for _, m := range []struct {
			name string
			v    []float64
		}{{"signin", form}, {"signin-to-table", toTable}, {"endpoints", reload}} {
			p50, p99 := percentiles(m.v)
			b.ReportMetric(p50, m.name+"-p50-ms")
			b.ReportMetric(p99, m.name+"-p99-ms")
		}
		b.ReportMetric(0, "ns/op")
	})
}

// report puts p50-ms and p99-ms of lat on b.
func report(b *testing.B, lat []float64) {
	p50, p99 := percentiles(lat)
	b.ReportMetric(p50, "p50-ms")
	b.ReportMetric(p99, "p99-ms")
	b.ReportMetric(0, "ns/op")
}

// percentiles are the nearest-rank p50 and p99 of v.
func percentiles(v []float64) (p50, p99 float64) {
	if len(v) == 0 {
		return 0, 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	at := func(p float64) float64 {
		i := int(p*float64(len(s))+0.999999) - 1
		return s[max(0, min(i, len(s)-1))]
	}
	return at(0.50), at(0.99)
}
