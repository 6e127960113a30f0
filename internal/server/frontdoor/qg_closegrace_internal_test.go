package frontdoor

import (
	"testing"
	"time"

	"github.com/postern/postern/internal/wire/tunnelproto"
	"github.com/postern/postern/internal/wire/wsframe"
)

// TestQGFinishGivesTheConfiguredCloseGrace: a tunnel the server ends
// (here revoked) gives its client Config.CloseGrace to answer the close
// frame, the read deadline finish sets, not a fixed 5 s; a client that
// does not answer is then read no longer, and the tunnel's close is
// recorded. (The deadline is compared with the clock around finish, not
// timed.)
func TestQGFinishGivesTheConfiguredCloseGrace(t *testing.T) {
	const grace = 50 * time.Millisecond
	for _, waits := range []bool{true, false} {
		name := "reader on a goroutine"
		if waits {
			name = "reader in the Poller"
		}
		t.Run(name, func(t *testing.T) {
			f, st := idleDoor(t, time.Hour)
			f.cfg.CloseGrace = grace
			id := "tnl-0qg000000000000a"
			if waits {
				id = "tnl-0qg000000000000b"
			}
			_, tun := openWith(t, f, id, waits, nil, newIdleStream()) // its client never answers
			before := time.Now()
			tun.finish(wsframe.ClosePolicyViolation, tunnelproto.CodeRevoked, "revoked by the test", true)
			after := time.Now()
			tun.mu.Lock()
			closeBy := tun.closeBy
			tun.mu.Unlock()
			if closeBy.Before(before.Add(grace)) || closeBy.After(after.Add(grace)) {
				t.Fatalf("the client has until %v after finish to answer its close, want CloseGrace %v",
					closeBy.Sub(before).Round(time.Millisecond), grace)
			}
			waitRuns(t, f)
			if reason, code := closeReason(t, st, id); reason != tunnelproto.CodeRevoked || code != wsframe.ClosePolicyViolation {
				t.Fatalf("closed %q %d, want %q %d", reason, code, tunnelproto.CodeRevoked, wsframe.ClosePolicyViolation)
			}
		})
	}
}
