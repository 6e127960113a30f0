package tunnelproto

import (
	"strconv"
	"strings"
	"time"
)

// The close reason a client reads when the front door ends a tunnel at its
// maxTunnelDuration (WebSocket close 1008, CodeMaxDuration on record).
// The front door writes it with MaxDurationCloseReason and the browser
// terminal recognises it with IsMaxDurationCloseReason, so that the text
// has one owner: rewording it here changes both, never one alone.
const (
	maxDurationReasonPrefix = "Maximum tunnel duration of "
	maxDurationReasonSuffix = " seconds reached"
)

// MaxDurationCloseReason is the close reason of a tunnel that reached its
// maximum duration d (whole seconds).
func MaxDurationCloseReason(d time.Duration) string {
	return maxDurationReasonPrefix + strconv.FormatInt(int64(d/time.Second), 10) + maxDurationReasonSuffix
}

// IsMaxDurationCloseReason reports whether reason is one that
// MaxDurationCloseReason writes.
func IsMaxDurationCloseReason(reason string) bool {
	n, ok := strings.CutPrefix(reason, maxDurationReasonPrefix)
	if !ok {
		return false
	}
	n, ok = strings.CutSuffix(n, maxDurationReasonSuffix)
	if !ok || n == "" {
		return false
	}
	_, err := strconv.ParseUint(n, 10, 63)
	return err == nil
}

// HeaderReplay is set (to "refused") on a Postern server's refusal of an
// openTunnel URL that was used already (its replay guard): a Postern
// client that reads it presigns its next URLs with a nonce of its own
// (client.NonceParam) and tries once more, so that `tunnel.replay:
// single-use` accepts several tunnels opened in one second to one target.
// Other refusals and AWS's never carry it, so a client talking to AWS
// keeps the AWS CLI's URL to the byte.
const HeaderReplay = "X-Postern-Replay"
