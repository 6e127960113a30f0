package frontdoor

import (
	"io"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gobwas/ws"

	"github.com/postern/postern/internal/wire/wsframe"
)

// r6EndingStream is an idleStream whose target sends total bytes, then
// half-closes (io.EOF).
type r6EndingStream struct {
	*idleStream
	left *atomic.Int64
}

func (s r6EndingStream) Recv(get func(int) []byte) ([]byte, error) {
	left := s.left.Load()
	if left <= 0 {
		return nil, io.EOF
	}
	b := get(int(min(left, 32<<10)))
	clear(b)
	s.left.Add(-int64(len(b)))
	return b, nil
}

// A client that reads a big download slowly (more slowly than the
// server writes: its window fills again and again, for longer in all
// than the close grace) gets every byte and then the close frame, after
// its target ended: the drain of a tunnel decided without abort is never
// cut at the close grace, only at wsframe.WriteTimeout per stalled write.
func TestR6SlowReaderGetsAllOfAnEndedDownload(t *testing.T) {
	const total = 6 << 20
	f, st := idleDoor(t, time.Hour) // close grace 2 s
	left := new(atomic.Int64)
	left.Store(total)
	id := "tnl-0r60000000000slowrd"
	client, _ := openWith(t, f, id, true, nil, r6EndingStream{newIdleStream(), left})
	_ = client.SetReadDeadline(time.Now().Add(40 * time.Second))
	rd := wsframe.NewReader(client, false)
	buf := make([]byte, 64<<10)
	var got int64
	for {
		fr, err := rd.Next()
		if err != nil {
			t.Fatalf("after %d of %d bytes: %v", got, total, err)
		}
		if fr.Kind == wsframe.KindClose {
			if fr.Code != wsframe.CloseNormal {
				t.Errorf("close %d %q, want %d", fr.Code, fr.Reason, wsframe.CloseNormal)
			}
			break
		}
		for rd.Remaining() > 0 {
			n, err := rd.ReadPayload(buf)
			got += int64(n)
			if err != nil {
				t.Fatalf("after %d of %d bytes: %v", got, total, err)
			}
			// A slow reader (not a synchronisation): 6 MiB take ~4 s, twice
			// the close grace.
			time.Sleep(40 * time.Millisecond)
		}
	}
	if got != total {
		t.Errorf("read %d bytes, want %d", got, total)
	}
	// The answer may find the connection closed: the client's close grace
	// ran from when the close frame was queued behind the bytes it read.
	_ = ws.WriteFrame(client, ws.MaskFrame(ws.NewCloseFrame(ws.NewCloseFrameBody(ws.StatusNormalClosure, ""))))
	if reason, code := closeReason(t, st, id); reason != "Normal" || code != wsframe.CloseNormal {
		t.Errorf("close record %q %d, want Normal %d", reason, code, wsframe.CloseNormal)
	}
	waitRuns(t, f)
}
