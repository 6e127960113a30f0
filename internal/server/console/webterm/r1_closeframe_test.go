package webterm

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/postern/postern/internal/client"
	"github.com/postern/postern/internal/server/audit"
	"github.com/postern/postern/internal/wire/tunnelproto"
	"github.com/postern/postern/internal/wire/wsframe"
)

// TestR1RefusalOfACutMultibyteMessage: a failed dial's message longer
// than a close frame holds, with a character of 2, 3 or 4 bytes across
// the frame's 123-byte limit, reaches the terminal as the front door's
// writer cuts it (wsframe, at a character's boundary) and the client's
// reader reads it; the record of the same message, through the real
// audit writer and store, is still matched to that close (a refusal with
// the dial's code). A message that differs after the cut's length, or
// one no longer than the frame holds but not the reason read, is not.
func TestR1RefusalOfACutMultibyteMessage(t *testing.T) {
	ctx := context.Background()
	r := newRefusalTrail(t, "ASIAR1TESTKEY0000001")

	// pad makes a message whose character ch starts at byte at.
	pad := func(at int, ch string) string {
		return "Could not connect: " + strings.Repeat("x", at-len("Could not connect: ")) + ch + " and more after the cut"
	}
	cases := []struct {
		name     string
		recorded string // the CloseTunnel's message
		sent     string // the message the front door closed with
		want     bool
	}{
		{"ASCII, exactly a frame's 123 bytes", pad(122, "y"), pad(122, "y")[:123], true},
		{"2-byte character, 1 byte of it in the frame", pad(122, "é"), pad(122, "é"), true},
		{"3-byte character, 2 bytes of it in the frame", pad(121, "€"), pad(121, "€"), true},
		{"3-byte character, 1 byte of it in the frame", pad(122, "€"), pad(122, "€"), true},
		{"4-byte character, 3 bytes of it in the frame", pad(120, "𝄞"), pad(120, "𝄞"), true},
		{"4-byte character, 1 byte of it in the frame", pad(122, "𝄞"), pad(122, "𝄞"), true},
		{"another message, the same first 100 bytes", pad(120, "𝄞"), pad(120, "𝄞")[:100] + strings.Repeat("z", 40), false},
		{"the record's message is the cut's prefix only", pad(120, "𝄞")[:110], pad(120, "𝄞"), false},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			// The close frame as the front door writes it and the client
			// reads it.
			var frame bytes.Buffer
			if err := wsframe.NewWriter(&frame, false).Close(wsframe.CloseInternalError, c.sent); err != nil {
				t.Fatal(err)
			}
			f, err := wsframe.NewReader(&frame, false).Next()
			if err != nil || f.Kind != wsframe.KindClose {
				t.Fatalf("close frame read: %+v, %v", f, err)
			}
			requestID := fmt.Sprintf("r1-request-%d", i)
			tunnelID := fmt.Sprintf("tnl-0r1%013d", i)
			r.openAndClose(t, requestID, audit.CloseDetails{TunnelID: tunnelID, Reason: tunnelproto.CodeUnreachable,
				CloseCode: wsframe.CloseInternalError, Message: c.recorded})
			seen := client.ClosedError{Code: f.Code, Reason: f.Reason}
			code, msg, ok := r.term.refusal(ctx, r.caller, requestID, r.since, &seen)
			if ok != c.want {
				t.Fatalf("refusal for the close %q (%d bytes): %q, %v; want %v", f.Reason, len(f.Reason), code, ok, c.want)
			}
			if ok && (code != tunnelproto.CodeUnreachable || msg != c.recorded) {
				t.Fatalf("refusal %q %q, want the record's code and whole message", code, msg)
			}
		})
	}
}
