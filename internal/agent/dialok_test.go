package agent

import (
	"bytes"
	"testing"

	"github.com/postern/postern/internal/wire/tunnelproto"
)

// The dial result written for every opened tunnel, encoded once, is one
// whole DialResult frame saying OK, exactly what WriteJSON writes.
func TestDialOKFrame(t *testing.T) {
	var want bytes.Buffer
	if err := tunnelproto.WriteJSON(&want, tunnelproto.FrameDialResult, tunnelproto.DialResult{OK: true}); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(dialOK, want.Bytes()) {
		t.Fatalf("dialOK is %q, want %q", dialOK, want.Bytes())
	}
	r := bytes.NewReader(dialOK)
	var res tunnelproto.DialResult
	if err := tunnelproto.ReadJSON(r, tunnelproto.FrameDialResult, &res); err != nil || !res.OK || res.Code != "" {
		t.Fatalf("dialOK reads as %+v, %v", res, err)
	}
	if r.Len() != 0 {
		t.Fatalf("%d bytes after the frame", r.Len())
	}
}
