package frontdoor_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/gobwas/ws"

	"github.com/postern/postern/internal/client"
	"github.com/postern/postern/internal/server/config"
	"github.com/postern/postern/internal/store"
	"github.com/postern/postern/internal/testutil/tunneltest"
	"github.com/postern/postern/internal/wire/tunnelproto"
)

// allPorts lets tunnels reach the kernel-chosen ports of test targets.
func allPorts(c *config.Server) { c.Tunnel.Ports = []string{"*"} }

func startAll(t *testing.T) *tunneltest.Env {
	return tunneltest.Start(t, tunneltest.Options{Config: allPorts})
}

// events returns the stored audit events, newest first.
func events(t *testing.T, e *tunneltest.Env, name string) []store.Event {
	t.Helper()
	evs, err := e.Server.Store.ListEvents(context.Background(), store.EventQuery{EventName: name})
	if err != nil {
		t.Fatal(err)
	}
	return evs
}

func TestTunnelEchoAndRecords(t *testing.T) {
	e := startAll(t)
	echo := tunneltest.Echo(t)
	tun, err := e.Dialer(e.Admin).Dial(context.Background(), e.Local(echo.Port))
	if err != nil {
		t.Fatal(err)
	}
	defer tun.Close()
	payload := make([]byte, 300_000)
	rand.Read(payload)
	go func() {
		tun.Write(payload)
		tun.CloseWrite()
	}()
	got, err := io.ReadAll(tun)
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	if !bytes.Equal(got, payload) {
		t.Fatalf("echoed %d bytes, want the %d sent", len(got), len(payload))
	}
	// The open event is committed before the first byte flows (the 101
	// may come first: TestDialOverlapsTheCommitNoByteBeforeTheRecord).
	if got := events(t, e, "OpenTunnel"); len(got) != 1 || got[0].ErrorCode != "" || got[0].TunnelID == "" {
		t.Fatalf("open events after the bytes: %+v", got)
	}
	tun.Close()
	closeEv := waitEvent(t, e, "CloseTunnel", 1)
	var rec struct {
		EventName           string
		ServiceEventDetails struct {
			TunnelID          string
			BytesIn, BytesOut int64
			Reason            string
			CloseCode         int
		}
		UserIdentity struct{ Type, UserName, AccessKeyID string }
	}
	if err := json.Unmarshal([]byte(closeEv[0].Body), &rec); err != nil {
		t.Fatal(err)
	}
	d := rec.ServiceEventDetails
	if d.BytesIn != int64(len(payload)) || d.BytesOut != int64(len(payload)) || d.Reason != "Normal" || d.CloseCode != 1000 {
		t.Errorf("close record %+v", d)
	}
	if d.TunnelID != events(t, e, "OpenTunnel")[0].TunnelID {
		t.Errorf("close record's tunnel %s is not the open record's", d.TunnelID)
	}
	if rec.UserIdentity.Type != "IAMUser" || rec.UserIdentity.UserName != "admin" || rec.UserIdentity.AccessKeyID != e.Admin.AccessKeyID {
		t.Errorf("userIdentity %+v", rec.UserIdentity)
	}
}

// waitEvent waits (at most 10 s) until n events of a name are stored,
// newest first: the close record is written after the tunnel's
// connection is gone. It reads the store again at each commit of audit
// records (tunneltest's WaitEvents), never polling; e must be t's own
// environment, as WaitEvents fails e's test.
func waitEvent(t *testing.T, e *tunneltest.Env, name string, n int) []store.Event {
	t.Helper()
	return e.WaitEvents(store.EventQuery{EventName: name}, 10*time.Second, func(evs []store.Event) bool { return len(evs) >= n })
}

// The URL the AWS SDK for Go v2's PresignHTTP makes (no X-Amz-Expires,
// query in the SDK's order) opens a tunnel, like the AWS CLI's form.
func TestSDKPresignedURL(t *testing.T) {
	e := startAll(t)
	echo := tunneltest.Echo(t)
	target := e.Local(echo.Port)
	host := e.DNSName()
	u := "https://" + host + "/openTunnel?instanceConnectEndpointId=" + target.EndpointID + "&remotePort=" +
		itoa(echo.Port) + "&privateIpAddress=127.0.0.1"
	req, _ := http.NewRequest(http.MethodGet, u, nil)
	signed, _, err := v4.NewSigner().PresignHTTP(context.Background(), e.Admin, req,
		"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", "ec2-instance-connect", e.Region, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(signed, "X-Amz-Expires") {
		t.Fatalf("the SDK's form has no X-Amz-Expires: %s", signed)
	}
	tun, err := e.Dialer(e.Admin).DialURL(context.Background(), "wss"+strings.TrimPrefix(signed, "https"), host)
	if err != nil {
		t.Fatal(err)
	}
	defer tun.Close()
	roundTrip(t, tun, "sdk-presigned")
}

func roundTrip(t *testing.T, tun *client.Tunnel, msg string) {
	t.Helper()
	if _, err := tun.Write([]byte(msg)); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, len(msg))
	if _, err := io.ReadFull(tun, buf); err != nil || string(buf) != msg {
		t.Fatalf("echo %q, %v", buf, err)
	}
}

func itoa(n int) string { return strconvItoa(n) }

// A presigned URL may be used again within its 60 s only from the address
// that used it first (the AWS CLI's listener mode reuses one URL within a
// second); in single-use mode, only once.
func TestPresignedURLReplay(t *testing.T) {
	for _, mode := range []string{"source-ip", "single-use"} {
		t.Run(mode, func(t *testing.T) {
			e := tunneltest.Start(t, tunneltest.Options{Config: func(c *config.Server) { allPorts(c); c.Tunnel.Replay = mode }})
			echo := tunneltest.Echo(t)
			creds, _ := aws.Credentials(e.Admin), 0
			u, err := client.PresignURL(context.Background(), creds, e.Region, e.Local(echo.Port), time.Now())
			if err != nil {
				t.Fatal(err)
			}
			d := e.Dialer(e.Admin)
			first, err := d.DialURL(context.Background(), u, e.DNSName())
			if err != nil {
				t.Fatal(err)
			}
			first.Close()
			again, err := d.DialURL(context.Background(), u, e.DNSName())
			if mode == "source-ip" {
				if err != nil {
					t.Fatalf("same URL from the same address: %v", err)
				}
				again.Close()
			} else {
				wantRefusal(t, err, 403, "AccessDeniedException", "once")
			}
			other := e.Dialer(e.Admin)
			other.LocalAddr = &net.TCPAddr{IP: net.ParseIP("127.0.0.2")}
			_, err = other.DialURL(context.Background(), u, e.DNSName())
			wantRefusal(t, err, 403, "AccessDeniedException", "")
		})
	}
}

// The replay guard's write overlaps the checks after it, but its answer
// still comes first: a used URL is refused as a replay whatever a later
// check says (here the port policy, which refused the URL's first use).
func TestReplayRefusedBeforeLaterChecks(t *testing.T) {
	e := tunneltest.Start(t, tunneltest.Options{Config: func(c *config.Server) { c.Tunnel.Replay = "single-use" }})
	target := e.Local(2) // the default port policy allows 22 and 3389 only
	u, err := client.PresignURL(context.Background(), aws.Credentials(e.Admin), e.Region, target, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	d := e.Dialer(e.Admin)
	tests := []struct {
		name         string
		code, reason string
	}{
		{"first use: the port policy", "InvalidParameter", "RemotePort"},
		{"second use: the replay guard", "AccessDeniedException", "once"},
		{"third use: the replay guard", "AccessDeniedException", "once"},
	}
	for _, tc := range tests {
		_, err := d.DialURL(context.Background(), u, e.DNSName())
		t.Log(tc.name)
		wantRefusal(t, err, map[string]int{"InvalidParameter": 400, "AccessDeniedException": 403}[tc.code], tc.code, tc.reason)
	}
}

func wantRefusal(t *testing.T, err error, status int, code, msgPart string) {
	t.Helper()
	var re *client.RefusedError
	if !errors.As(err, &re) {
		t.Fatalf("got %v, want a refusal %d %s", err, status, code)
	}
	if re.Status != status || re.ErrorCode != code || !strings.Contains(re.Message, msgPart) {
		t.Fatalf("refusal %d %s %q, want %d %s containing %q", re.Status, re.ErrorCode, re.Message, status, code, msgPart)
	}
}

func strconvItoa(n int) string { return strconv.Itoa(n) }

// closedWith reads the tunnel to its end and checks the close code and
// reason.
func closedWith(t *testing.T, tun *client.Tunnel, code int, reasonPart string) {
	t.Helper()
	_, err := io.Copy(io.Discard, tun)
	var ce *client.ClosedError
	if !errors.As(err, &ce) {
		t.Fatalf("tunnel ended with %v, want a close with code %d", err, code)
	}
	if ce.Code != code || !strings.Contains(ce.Reason, reasonPart) {
		t.Fatalf("closed with %d %q, want %d with %q", ce.Code, ce.Reason, code, reasonPart)
	}
}

func lastClose(t *testing.T, e *tunneltest.Env) (reason string, code int) {
	t.Helper()
	ev := waitEvent(t, e, "CloseTunnel", 1)[0]
	var rec struct {
		ServiceEventDetails struct {
			Reason    string
			CloseCode int
		}
	}
	if err := json.Unmarshal([]byte(ev.Body), &rec); err != nil {
		t.Fatal(err)
	}
	return rec.ServiceEventDetails.Reason, rec.ServiceEventDetails.CloseCode
}

// maxTunnelDuration ends the tunnel with a reason the client prints.
func TestMaxTunnelDuration(t *testing.T) {
	e := startAll(t)
	echo := tunneltest.Echo(t)
	target := e.Local(echo.Port)
	target.MaxTunnelDuration = 1
	tun, err := e.Dialer(e.Admin).Dial(context.Background(), target)
	if err != nil {
		t.Fatal(err)
	}
	defer tun.Close()
	roundTrip(t, tun, "before the deadline")
	closedWith(t, tun, 1008, tunnelproto.MaxDurationCloseReason(time.Second))
	if reason, code := lastClose(t, e); reason != "MaxDuration" || code != 1008 {
		t.Fatalf("close record %s %d", reason, code)
	}
}

// A target that resets its connection ends the tunnel with that reason.
func TestTargetReset(t *testing.T) {
	e := startAll(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		b := make([]byte, 1)
		c.Read(b)
		c.(*net.TCPConn).SetLinger(0)
		c.Close()
	}()
	tun, err := e.Dialer(e.Admin).Dial(context.Background(), e.Local(ln.Addr().(*net.TCPAddr).Port))
	if err != nil {
		t.Fatal(err)
	}
	defer tun.Close()
	tun.Write([]byte("x"))
	closedWith(t, tun, 1011, "reset")
	if reason, _ := lastClose(t, e); reason != "TargetReset" {
		t.Fatalf("close record reason %s", reason)
	}
}

// The AWS CLI sends empty binary frames after stdin ends and answers
// pings; the server ignores the former and answers the client's pings.
func TestEmptyFramesAndPing(t *testing.T) {
	e := startAll(t)
	echo := tunneltest.Echo(t)
	u, err := client.PresignURL(context.Background(), e.Admin, e.Region, e.Local(echo.Port), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	d := ws.Dialer{TLSConfig: &tls.Config{RootCAs: e.Roots, ServerName: "localhost"},
		NetDial: func(ctx context.Context, n, _ string) (net.Conn, error) { return net.Dial(n, e.Addr) }}
	conn, _, _, err := d.Dial(context.Background(), u)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	send := func(f ws.Frame) {
		if err := ws.WriteFrame(conn, ws.MaskFrame(f)); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < 100; i++ {
		send(ws.NewBinaryFrame(nil))
	}
	send(ws.NewPingFrame([]byte("are you there")))
	send(ws.NewBinaryFrame([]byte("data")))
	var gotPong, gotData bool
	for !(gotPong && gotData) {
		f, err := ws.ReadFrame(conn)
		if err != nil {
			t.Fatalf("read: %v (pong %v, data %v)", err, gotPong, gotData)
		}
		switch f.Header.OpCode {
		case ws.OpPong:
			gotPong = string(f.Payload) == "are you there"
		case ws.OpBinary:
			gotData = string(f.Payload) == "data"
		default:
			t.Fatalf("unexpected frame %v %q", f.Header.OpCode, f.Payload)
		}
	}
	// A close from the client is answered with 1000.
	send(ws.NewCloseFrame(ws.NewCloseFrameBody(ws.StatusNormalClosure, "")))
	for {
		f, err := ws.ReadFrame(conn)
		if err != nil {
			t.Fatalf("no close answer: %v", err)
		}
		if f.Header.OpCode == ws.OpClose {
			code, _ := ws.ParseCloseFrameData(f.Payload)
			if code != ws.StatusNormalClosure {
				t.Fatalf("close answer %d", code)
			}
			return
		}
	}
}

func timeNow() time.Time { return time.Now() }
