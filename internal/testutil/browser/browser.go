// Package browser starts Debian's Chromium headless for end-to-end tests
// of the console, driven over the DevTools protocol (chromedp), and saves
// screenshots of what it showed as test artifacts.
//
// Chromium runs with a fresh profile in a temporary directory, with its
// background networking off (this machine's network is closed; tests talk
// only to loopback), and trusts the test server's CA through
// --ignore-certificate-errors-spki-list, so no system store is touched.
package browser

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/postern/postern/internal/testutil/ci"
)

// Path finds the Chromium binary: $POSTERN_CHROMIUM, else chromium or
// chromium-browser on PATH, else /usr/bin/chromium.
func Path() (string, error) {
	if p := os.Getenv("POSTERN_CHROMIUM"); p != "" {
		return p, nil
	}
	for _, name := range []string{"chromium", "chromium-browser", "/usr/bin/chromium"} {
		if p, err := exec.LookPath(name); err == nil {
			return p, nil
		}
	}
	return "", exec.ErrNotFound
}

// Browser is one headless Chromium for one test.
type Browser struct {
	t   testing.TB
	ctx context.Context
	dir string // where screenshots go
	n   int
}

// Options configure Start.
type Options struct {
	// TrustCert is the server certificate (leaf) to accept although no
	// system CA signs it: its public key's SHA-256 goes into
	// --ignore-certificate-errors-spki-list.
	TrustCert *x509.Certificate
	// AlsoTrust are more such certificates (another site the test
	// serves, e.g. an OpenID provider with its own self-signed one).
	AlsoTrust []*x509.Certificate
	// Timeout bounds the whole browser session (default 10 minutes): a
	// guard against a hang, not a measure. A session of a few dozen
	// steps took 2 minutes of a 3-minute bound on a loaded 2-core
	// machine under -race.
	Timeout time.Duration
}

// Start launches Chromium, or skips the test (fails it under CI) when
// Chromium is not installed. The browser ends with the test.
func Start(t testing.TB, opts Options) *Browser {
	t.Helper()
	path, err := Path()
	if err != nil {
		ci.Need(t, "browser: Chromium is not installed (apt-get install chromium): %v", err)
	}
	if opts.Timeout == 0 {
		opts.Timeout = 10 * time.Minute
	}
	alloc := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.Headless,
		chromedp.NoSandbox, // the tests run as root in CI
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("disable-features", "Translate,OptimizationHints,MediaRouter,AutofillServerCommunication"),
		chromedp.WindowSize(1280, 800),
	}
	var spkis []string
	for _, c := range append([]*x509.Certificate{opts.TrustCert}, opts.AlsoTrust...) {
		if c != nil {
			sum := sha256.Sum256(c.RawSubjectPublicKeyInfo)
			spkis = append(spkis, base64.StdEncoding.EncodeToString(sum[:]))
		}
	}
	if len(spkis) > 0 {
		alloc = append(alloc, chromedp.Flag("ignore-certificate-errors-spki-list", strings.Join(spkis, ",")))
	}
	ctx, cancel := context.WithTimeout(context.Background(), opts.Timeout)
	actx, acancel := chromedp.NewExecAllocator(ctx, alloc...)
	bctx, bcancel := chromedp.NewContext(actx, chromedp.WithLogf(func(f string, a ...any) { t.Logf("chromium: "+f, a...) }))
	if err := chromedp.Do(bctx); err != nil {
		bcancel()
		acancel()
		cancel()
		ci.Need(t, "browser: Chromium at %s did not start: %v", path, err)
	}
	t.Cleanup(func() {
		bcancel()
		acancel()
		cancel()
	})
	return &Browser{t: t, ctx: bctx, dir: ArtifactDir(t)}
}

// Context is the browser tab's context, for chromedp.Run.
func (b *Browser) Context() context.Context { return b.ctx }

// Run runs actions in the tab and fails the test on error, with a
// screenshot of what the page showed.
func (b *Browser) Run(what string, actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	if err := chromedp.Do(b.ctx, actions...); err != nil {
		b.Screenshot("failed-" + what)
		b.t.Fatalf("browser: %s: %v", what, err)
	}
}

// Screenshot saves the page as <artifacts>/<NN>-<name>.png and returns
// its path.
func (b *Browser) Screenshot(name string) string {
	b.t.Helper()
	return b.ScreenshotTab(b.ctx, name)
}

// ScreenshotTab is Screenshot of another tab of this browser (a context
// made by chromedp.NewContext from Context), numbered in the same series.
func (b *Browser) ScreenshotTab(tab context.Context, name string) string {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(tab, 20*time.Second)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100)) // 100: a PNG (below 100 chromedp makes a JPEG)
	if err != nil {
		b.t.Logf("browser: screenshot %s: %v", name, err)
		return ""
	}
	b.n++
	p := filepath.Join(b.dir, safeName(strings.TrimSuffix(name, ".png"), b.n)+".png")
	if err := os.WriteFile(p, png, 0o644); err != nil {
		b.t.Logf("browser: save screenshot: %v", err)
		return ""
	}
	b.t.Logf("browser: screenshot %s", p)
	return p
}

// ArtifactDir is where a test's screenshots go: $POSTERN_TEST_ARTIFACTS
// (or test-artifacts at the module root) / the test's name. It is kept
// after the test, for people to look at.
func ArtifactDir(t testing.TB) string {
	t.Helper()
	root := os.Getenv("POSTERN_TEST_ARTIFACTS")
	if root == "" {
		root = filepath.Join(moduleRoot(), "test-artifacts")
	}
	dir := filepath.Join(root, safeName(t.Name(), 0))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatalf("browser: artifacts: %v", err)
	}
	return dir
}

var unsafeChars = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

func safeName(s string, n int) string {
	s = unsafeChars.ReplaceAllString(s, "_")
	if n > 0 {
		return strings.TrimLeft(strings.Join([]string{pad(n), s}, "-"), "-")
	}
	return s
}

func pad(n int) string {
	if n < 10 {
		return "0" + strconv.Itoa(n)
	}
	return strconv.Itoa(n)
}

// moduleRoot walks up from the working directory to go.mod.
func moduleRoot() string {
	dir, err := os.Getwd()
	if err != nil {
		return "."
	}
	for d := dir; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return d
		}
		if filepath.Dir(d) == d {
			return dir
		}
	}
}
