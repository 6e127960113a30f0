package server

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/postern/postern/internal/server/config"
)

// TestShutdownClosesTheConsole: the console's calls go through its
// in-process loop until Shutdown, which closes it (and the browser
// terminal): a call after it fails instead of reaching the API.
func TestShutdownClosesTheConsole(t *testing.T) {
	cfg := config.Default()
	cfg.DataDir = filepath.Join(t.TempDir(), "data")
	cfg.Listen, cfg.Advertise = config.ParseAddrs("127.0.0.1:0"), "localhost:8443"
	off := false
	cfg.Agent.Embedded = &off
	s, err := New(context.Background(), cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	h := s.Handler()
	post := func(path, body string, hdr http.Header) *httptest.ResponseRecorder {
		req := httptest.NewRequest(http.MethodPost, "https://localhost:8443"+path, bytes.NewReader([]byte(body)))
		req.RemoteAddr = "192.0.2.10:5555"
		req.Header.Set("Sec-Fetch-Site", "same-origin")
		for k, v := range hdr {
			req.Header[k] = v
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec
	}
	token := strings.TrimPrefix(s.ConsoleLink(), "https://localhost:8443/console/#/welcome/")
	rec := post("/console/api/signin-link", `{"token":"`+token+`"}`, nil)
	if rec.Code != 200 {
		t.Fatalf("signin-link: %d %s", rec.Code, rec.Body)
	}
	var csrf string
	if i := strings.Index(rec.Body.String(), `"csrfToken":"`); i >= 0 {
		csrf, _, _ = strings.Cut(rec.Body.String()[i+len(`"csrfToken":"`):], `"`)
	}
	hdr := http.Header{"Cookie": {strings.Split(rec.Header().Get("Set-Cookie"), ";")[0]}, "X-Postern-Csrf": {csrf}}
	call := func() int {
		return post("/console/api/call/sts", "Action=GetCallerIdentity&Version=2011-06-15", hdr).Code
	}
	if code := call(); code != 200 {
		t.Fatalf("call before Shutdown: %d", code)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if code := call(); code != http.StatusInternalServerError {
		t.Fatalf("call after Shutdown: %d, want 500 (the console's loop is closed)", code)
	}
}
