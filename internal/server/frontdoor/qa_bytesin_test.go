package frontdoor_test

import (
	"context"
	"crypto/tls"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/gobwas/ws"

	"github.com/postern/postern/internal/client"
)

// Once the agent said the target is gone (End), the server carries no
// more of the client's upload: what the client still sends before it
// answers the close is read and dropped, and CloseTunnel's BytesIn counts
// the bytes carried, not those. (Before: the server forwarded, and
// counted, everything the client sent for the whole close grace.)
func TestQAUploadAfterTheTargetsEndIsNotCarried(t *testing.T) {
	const before, after, frame = 1 << 20, 8 << 20, 64 << 10
	for _, tc := range []struct {
		name   string
		remote bool
	}{{"embedded agent", false}, {"remote agent", true}} {
		t.Run(tc.name, func(t *testing.T) {
			e := startAll(t)
			target, ln, _ := qaTarget(t, e, tc.remote)
			// The target takes the first bytes, all of them, then resets.
			took := make(chan error, 1)
			go func() {
				c, err := ln.Accept()
				if err != nil {
					took <- err
					return
				}
				_, err = io.ReadFull(c, make([]byte, before))
				_ = c.(*net.TCPConn).SetLinger(0)
				c.Close()
				took <- err
			}()
			u, err := client.PresignURL(context.Background(), e.Admin, e.Region, target, time.Now())
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
			send := func(n int) {
				t.Helper()
				for ; n > 0; n -= frame {
					if err := ws.WriteFrame(conn, ws.MaskFrame(ws.NewBinaryFrame(make([]byte, frame)))); err != nil {
						t.Fatal(err)
					}
				}
			}
			send(before)
			if err := <-took; err != nil {
				t.Fatalf("the target: %v", err)
			}
			// The server's close, once the agent's End arrived.
			for {
				f, err := ws.ReadFrame(conn)
				if err != nil {
					t.Fatalf("no close frame after the target's reset: %v", err)
				}
				if f.Header.OpCode == ws.OpClose {
					code, reason := ws.ParseCloseFrameData(f.Payload)
					if code != 1011 || !strings.Contains(reason, "reset") {
						t.Fatalf("closed with %d %q, want 1011 and the target's reset", code, reason)
					}
					break
				}
			}
			// A client still uploading (its close crossed ours) sends
			// more, then answers the close.
			send(after)
			if err := ws.WriteFrame(conn, ws.MaskFrame(ws.NewCloseFrame(ws.NewCloseFrameBody(ws.StatusNormalClosure, "")))); err != nil {
				t.Fatal(err)
			}
			_, _ = io.Copy(io.Discard, conn) // until the server closes
			reason, bytesIn := qaCloseDetails(t, e)
			if reason != "TargetReset" || bytesIn != before {
				t.Fatalf("CloseTunnel %s with BytesIn %d, want TargetReset and the %d bytes sent before the End (not the %d after it)", reason, bytesIn, before, after)
			}
		})
	}
}
