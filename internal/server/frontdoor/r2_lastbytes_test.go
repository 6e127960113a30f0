package frontdoor_test

import (
	"io"
	"testing"
	"time"

	"github.com/postern/postern/internal/testutil/tunneltest"
)

// A target that answers and then resets while the client still uploads
// (an HTTP server's 413 to a request body it will not read) has its
// answer reach the client before the tunnel ends as TargetReset, with
// either kind of agent, also when the server's send of the client's
// bytes fails (the target's reset) before its reader read the answer:
// the test holds the reader until a send failed, every run. (Before, the
// embedded agent's failed write decided at once, and the client got the
// close frame instead of the answer.)
func TestR2TargetsLastBytesBeforeItsResetReachTheClient(t *testing.T) {
	const answer = "HTTP/1.1 413 Payload Too Large\r\n\r\n"
	for _, tc := range []struct {
		name   string
		remote bool
	}{{"embedded agent", false}, {"remote agent", true}} {
		t.Run(tc.name, func(t *testing.T) {
			e := startAll(t)
			tun, c, agentClosed, sendFailed := qaHeldTunnel(t, e, tc.remote)
			// The target answers and resets.
			if _, err := c.Write([]byte(answer)); err != nil {
				t.Fatal(err)
			}
			_ = c.SetLinger(0)
			c.Close()
			<-agentClosed

			got := make(chan []byte, 1)
			go func() {
				b, _ := io.ReadAll(tun) // until the server's close
				got <- b
			}()
			stop := make(chan struct{})
			defer close(stop)
			go func() {
				buf := make([]byte, 16<<10)
				for i := 0; i < 4096; i++ { // bounded: 64 MiB
					select {
					case <-stop:
						return
					default:
					}
					if _, err := tun.Write(buf); err != nil {
						return
					}
				}
			}()
			select {
			case <-sendFailed:
			case <-time.After(tunneltest.EventBound):
				t.Fatal("no send to the agent failed after the target's reset")
			}
			select {
			case b := <-got:
				if string(b) != answer {
					t.Errorf("the client read %q before the tunnel's end, want the target's answer %q", b, answer)
				}
			case <-time.After(tunneltest.EventBound):
				t.Fatal("the tunnel did not end")
			}
			if reason, _ := qaCloseDetails(t, e); reason != "TargetReset" {
				t.Fatalf("CloseTunnel reason %s, want TargetReset", reason)
			}
		})
	}
}
