package frontdoor

import (
	"errors"
	"sync/atomic"
	"time"

	"github.com/postern/postern/internal/server/relay"
	"github.com/postern/postern/internal/wire/tunnelproto"
	"github.com/postern/postern/internal/wire/wsframe"
)

// sendFailed handles the agent's stream refusing the client's bytes
// (clientToAgent's SendData failed; the caller stopped carrying them,
// upGone). The agent's own word on why wins over the failure:
//
//   - an *tunnelproto.EndReason (the agent was revoked or stopped) ends
//     the tunnel with it;
//   - any other failure (the stream was reset, the link broke, the
//     embedded agent's write to its target failed) ends it only once the
//     stream's reader (agentToClient) ended without deciding otherwise,
//     or after grace: as a lost agent, or with the target's failure
//     (relay.TargetWriteError). The reader gets, first,
//     every frame the agent sent before the failure: an agent whose target
//     reset writes End, closes its stream and then resets it when the
//     client's next bytes land (linkmux: a stream closed with nothing
//     unread resets on later data), and that reset can reach this writer
//     before the reader reaches the End. Deciding here would record the
//     target's reset as AgentLost.
//
// Waiting on the reader's goroutine (agentDone) holds this reading of
// the client for at most grace, as a client's close frame already does;
// a link that is really gone ends the reader at once.
func (t *tunnel) sendFailed(err error, agentDone <-chan struct{}) {
	if h := testHookSendFailed.Load(); h != nil {
		(*h)()
	}
	if t.isEnded() {
		return
	}
	var er *tunnelproto.EndReason
	if errors.As(err, &er) {
		t.finish(closeCodeFor(er.Code), er.Code, er.Message, false)
		return
	}
	wait := time.NewTimer(t.grace)
	select {
	case <-agentDone:
	case <-wait.C:
	}
	wait.Stop()
	if t.isEnded() {
		return
	}
	// The embedded agent's failed write names the target's failure, the
	// reader being too slow to say it (a client that does not read).
	var tw *relay.TargetWriteError
	if errors.As(err, &tw) {
		t.finish(closeCodeFor(tw.Reason.Code), tw.Reason.Code, tw.Reason.Message, false)
		return
	}
	t.finish(wsframe.CloseInternalError, tunnelproto.CodeAgentLost, "The connection to the endpoint agent was lost", false)
}

// Test seams (nil outside tests): testHookAgentFirstRecv runs on the
// agent stream's reader before its first read, testHookSendFailed when a
// send of the client's bytes to the agent failed. A test that holds the
// reader until a send failed makes "the reset reached the writer before
// the reader read the End" happen on every run.
var testHookAgentFirstRecv, testHookSendFailed atomic.Pointer[func()]
