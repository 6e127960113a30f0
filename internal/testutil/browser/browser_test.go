package browser

import (
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"testing"

	"github.com/chromedp/chromedp"
)

// The browser loads a page over TLS from a server whose certificate no
// system CA signs, runs its script, and leaves a screenshot behind.
func TestBrowserLoadsATLSPage(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		_, _ = io.WriteString(w, `<!doctype html><title>t</title><p id="p">before</p><script src="/s.js"></script>`)
	}))
	defer srv.Close()
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/s.js" {
			w.Header().Set("Content-Type", "text/javascript")
			_, _ = io.WriteString(w, `document.getElementById("p").textContent = "after";`)
			return
		}
		w.Header().Set("Content-Type", "text/html")
		_, _ = io.WriteString(w, `<!doctype html><title>t</title><p id="p">before</p><script src="/s.js"></script>`)
	})
	srv.Config.Handler = mux
	t.Setenv("POSTERN_TEST_ARTIFACTS", t.TempDir())
	b := Start(t, Options{TrustCert: srv.Certificate()})
	b.Run("load", chromedp.Navigate(srv.URL), chromedp.WaitVisible("#p"))
	got, err := chromedp.Run(b.Context(), chromedp.Text("#p"))
	if err != nil || got != "after" {
		t.Fatalf("page text = %q, %v; want the script's", got, err)
	}
	p := b.Screenshot("page")
	if st, err := os.Stat(p); err != nil || st.Size() == 0 {
		t.Fatalf("screenshot %s: %v", p, err)
	}
}
