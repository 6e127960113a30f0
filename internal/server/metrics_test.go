package server_test

import (
	"context"
	"io"
	"net"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/postern/postern/internal/server/config"
	"github.com/postern/postern/internal/testutil/tunneltest"
)

// A scrape of /metrics after some traffic shows the counters moving.
func TestMetrics(t *testing.T) {
	e := tunneltest.Start(t, tunneltest.Options{Config: func(c *config.Server) { c.Tunnel.Ports = []string{"*"} }})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go e.Server.ServeMetrics(ln)
	scrape := func() string {
		t.Helper()
		resp, err := e.HTTP.Get("https://" + ln.Addr().String() + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}
	value := func(text, series string) float64 {
		t.Helper()
		re := regexp.MustCompile("(?m)^" + regexp.QuoteMeta(series) + ` ([0-9.e+]+)$`)
		m := re.FindStringSubmatch(text)
		if m == nil {
			return 0
		}
		v, _ := strconv.ParseFloat(m[1], 64)
		return v
	}
	ctx := context.Background()
	// Traffic: a signed API call, one with a bad signature, a tunnel
	// carrying bytes, a refused tunnel.
	if _, err := sts.NewFromConfig(e.AWS(e.Admin)).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{}); err != nil {
		t.Fatal(err)
	}
	bad := e.Admin
	bad.SecretAccessKey = "wrong"
	sts.NewFromConfig(e.AWS(bad)).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	echo := tunneltest.Echo(t)
	tun, err := e.Dialer(e.Admin).Dial(ctx, e.Local(echo.Port))
	if err != nil {
		t.Fatal(err)
	}
	// The 101 does not wait for the tunnel to open (its dial and record):
	// once bytes came back it is open.
	tun.Write([]byte(strings.Repeat("x", 1000)))
	io.ReadFull(tun, make([]byte, 1000))
	mid := scrape()
	if v := value(mid, "postern_tunnels_open"); v != 1 {
		t.Errorf("postern_tunnels_open %v while one is open", v)
	}
	tun.CloseWrite()
	io.Copy(io.Discard, tun)
	tun.Close()
	nobody := e.NewUser("nobody", "")
	e.Dialer(nobody).Dial(ctx, e.Local(echo.Port))

	var text string
	for i := 0; i < 200; i++ { // the close is recorded once the server sees the end
		text = scrape()
		if value(text, `postern_tunnels_closed_total{reason="Normal"}`) == 1 {
			break
		}
	}
	checks := map[string]float64{
		`postern_api_requests_total{action="GetCallerIdentity",code="OK",service="sts"}`: 1,
		`postern_signature_failures_total{code="SignatureDoesNotMatch"}`:                 1,
		`postern_tunnels_opened_total`:                                                   1,
		`postern_tunnels_refused_total{reason="iam"}`:                                    1,
		`postern_tunnels_closed_total{reason="Normal"}`:                                  1,
		`postern_tunnels_open`:                                                           0,
		`postern_tunnel_bytes_total{direction="in"}`:                                     1000,
		`postern_tunnel_bytes_total{direction="out"}`:                                    1000,
		`postern_tunnel_open_seconds_count`:                                              1,
		`postern_agents_connected`:                                                       1,
	}
	for series, want := range checks {
		if got := value(text, series); got != want {
			t.Errorf("%s = %v, want %v", series, got, want)
		}
	}
	if value(text, "postern_store_commit_seconds_count") < 3 {
		t.Errorf("store commits are not observed")
	}
}

// /readyz says ready while the store answers, and not ready once the
// server shuts down; /healthz stays a liveness check.
func TestReadiness(t *testing.T) {
	e := tunneltest.Start(t, tunneltest.Options{})
	get := func(path string) int {
		resp, err := e.HTTP.Get(e.URL + path)
		if err != nil {
			return -1
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if c := get("/readyz"); c != 200 {
		t.Fatalf("/readyz %d", c)
	}
	if c := get("/healthz"); c != 200 {
		t.Fatalf("/healthz %d", c)
	}
	e.Server.Store.Close() // the database goes away
	if c := get("/readyz"); c != 503 {
		t.Fatalf("/readyz with the store closed: %d", c)
	}
}
