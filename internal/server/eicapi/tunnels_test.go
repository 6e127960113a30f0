package eicapi_test

import (
	"context"
	"encoding/json"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/postern/postern/internal/server/config"
	"github.com/postern/postern/internal/testutil/tunneltest"
)

type listed struct {
	Tunnels []struct {
		TunnelId, Principal, InstanceConnectEndpointId string
		BytesIn, BytesOut, SecondsLeft                 int64
	}
}

// postern tunnels list shows a live tunnel's growing byte count;
// terminate ends it with a reason the client prints.
func TestListAndTerminateTunnels(t *testing.T) {
	e := tunneltest.Start(t, tunneltest.Options{Config: func(c *config.Server) { c.Tunnel.Ports = []string{"*"} }})
	echo := tunneltest.Echo(t)
	tun, err := e.Dialer(e.Admin).Dial(context.Background(), e.Local(echo.Port))
	if err != nil {
		t.Fatal(err)
	}
	defer tun.Close()
	list := func() listed {
		t.Helper()
		out, err := e.CallJSON(e.Admin, "ListTunnels", map[string]string{})
		if err != nil {
			t.Fatal(err)
		}
		var l listed
		if err := json.Unmarshal([]byte(out), &l); err != nil {
			t.Fatal(err)
		}
		return l
	}
	echoN := func(n int) {
		msg := strings.Repeat("x", n)
		tun.Write([]byte(msg))
		buf := make([]byte, n)
		if _, err := io.ReadFull(tun, buf); err != nil {
			t.Fatal(err)
		}
	}
	echoN(100)
	l := list()
	if len(l.Tunnels) != 1 || l.Tunnels[0].BytesIn != 100 || l.Tunnels[0].BytesOut != 100 || !strings.HasSuffix(l.Tunnels[0].Principal, ":user/admin") ||
		l.Tunnels[0].SecondsLeft < 3500 {
		t.Fatalf("listing %+v", l)
	}
	echoN(1000)
	if l2 := list(); l2.Tunnels[0].BytesIn != 1100 {
		t.Fatalf("bytes did not grow: %+v", l2)
	}
	// A user without the actions may do neither.
	nobody := e.NewUser("nobody", "")
	if _, err := e.CallJSON(nobody, "ListTunnels", map[string]string{}); err == nil || !strings.Contains(err.Error(), "AccessDeniedException") {
		t.Fatalf("list by nobody: %v", err)
	}
	if _, err := e.CallJSON(nobody, "TerminateTunnel", map[string]string{"TunnelId": l.Tunnels[0].TunnelId}); err == nil || !strings.Contains(err.Error(), "AccessDeniedException") {
		t.Fatalf("terminate by nobody: %v", err)
	}
	if _, err := e.CallJSON(e.Admin, "TerminateTunnel", map[string]string{"TunnelId": "tnl-00000000000000000"}); err == nil || !strings.Contains(err.Error(), "ResourceNotFoundException") {
		t.Fatalf("terminate an unknown tunnel: %v", err)
	}
	// Terminate ends the tunnel at once: a tunnel still open EventBound
	// after it fails (well before the periodic re-check, which would not
	// end it anyway: the caller may still open it); past the promised
	// second is logged, not failed.
	end := tunneltest.WatchEnd(tun)
	start := time.Now()
	if _, err := e.CallJSON(e.Admin, "TerminateTunnel", map[string]string{"TunnelId": l.Tunnels[0].TunnelId}); err != nil {
		t.Fatal(err)
	}
	end.Within(t, start, time.Second, 1008, "terminated by")
}
