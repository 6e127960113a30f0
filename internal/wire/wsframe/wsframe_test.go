package wsframe

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/gobwas/ws"
)

// Frames written by a client-side Writer are read back by a server-side
// Reader (and the other way round), at every length class.
func TestRoundTrip(t *testing.T) {
	for _, fromClient := range []bool{true, false} {
		for _, n := range []int{0, 1, 125, 126, 65535, 65536, 65000 + 3} {
			var wire bytes.Buffer
			w := NewWriter(&wire, fromClient)
			payload := bytes.Repeat([]byte{0xa5, 0x5a, 0x01}, n/3+1)[:n]
			buf := append(make([]byte, MaxHeader), payload...)
			if err := w.WriteData(buf, MaxHeader); err != nil {
				t.Fatal(err)
			}
			// Cross-check the encoding with gobwas's own reader.
			f, err := ws.ReadFrame(bytes.NewReader(wire.Bytes()))
			if err != nil {
				t.Fatal(err)
			}
			if f.Header.Masked != fromClient || f.Header.OpCode != ws.OpBinary || !f.Header.Fin || int(f.Header.Length) != n {
				t.Fatalf("n=%d header %+v", n, f.Header)
			}
			r := NewReader(bytes.NewReader(wire.Bytes()), fromClient)
			fr, err := r.Next()
			if err != nil || fr.Kind != KindData || fr.Length != int64(n) {
				t.Fatalf("n=%d Next %+v %v", n, fr, err)
			}
			got, err := io.ReadAll(r)
			if err != nil || !bytes.Equal(got, payload) {
				t.Fatalf("n=%d payload mismatch (%d bytes) %v", n, len(got), err)
			}
		}
	}
}

func TestControlFrames(t *testing.T) {
	var wire bytes.Buffer
	w := NewWriter(&wire, true)
	w.Ping([]byte("p"))
	w.Pong([]byte("q"))
	w.Close(CloseGoingAway, strings.Repeat("é", 100)) // cut to 123 bytes of UTF-8
	if err := w.Ping(nil); !errors.Is(err, ErrClosed) {
		t.Fatalf("write after close: %v", err)
	}
	r := NewReader(&wire, true)
	want := []Kind{KindPing, KindPong, KindClose}
	for i, k := range want {
		f, err := r.Next()
		if err != nil || f.Kind != k {
			t.Fatalf("frame %d: %+v %v", i, f, err)
		}
		if k == KindClose && (f.Code != CloseGoingAway || len(f.Reason) > 123 || !strings.HasPrefix(f.Reason, "é")) {
			t.Fatalf("close %d %q", f.Code, f.Reason)
		}
	}
}

func TestProtocolErrors(t *testing.T) {
	tests := map[string][]byte{
		"unmasked from client": {0x82, 0x01, 'x'},
		"reserved bits":        {0xc2, 0x80, 0, 0, 0, 0},
		"fragmented control":   {0x09, 0x80, 0, 0, 0, 0},
		"long control":         {0x89, 0xfe, 0x00, 0x7e, 0, 0, 0, 0},
		"unknown opcode":       {0x83, 0x80, 0, 0, 0, 0},
		"one-byte close":       {0x88, 0x81, 0, 0, 0, 0, 1},
		"unknown control":      {0x8b, 0x80, 0, 0, 0, 0},
	}
	for name, in := range tests {
		t.Run(name, func(t *testing.T) {
			_, err := NewReader(bytes.NewReader(in), true).Next()
			if !errors.Is(err, ErrProtocol) {
				t.Fatalf("got %v, want a protocol error", err)
			}
		})
	}
}

// FuzzReader: arbitrary bytes from a client never panic the reader, and
// it never yields more payload than it was given.
func FuzzReader(f *testing.F) {
	var wire bytes.Buffer
	w := NewWriter(&wire, true)
	w.WriteData(append(make([]byte, MaxHeader), "hello"...), MaxHeader)
	w.Ping([]byte("x"))
	w.Close(CloseNormal, "bye")
	f.Add(wire.Bytes(), true)
	f.Add([]byte{0x82, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, false)
	f.Fuzz(func(t *testing.T, in []byte, fromClient bool) {
		r := NewReader(bytes.NewReader(in), fromClient)
		total := 0
		buf := make([]byte, 100)
		for i := 0; i <= len(in); i++ {
			fr, err := r.Next()
			if err != nil {
				return
			}
			if fr.Kind == KindData || fr.Kind == KindText {
				for r.Remaining() > 0 {
					n, err := r.ReadPayload(buf)
					total += n
					if total > len(in) {
						t.Fatalf("%d payload bytes from %d input bytes", total, len(in))
					}
					if err != nil {
						return
					}
				}
			}
		}
	})
}

// WriteDataSplit writes a large buffer as frames of at most max bytes,
// each a complete FIN binary frame that gobwas's reader accepts, masked
// with a mask of its own by a client; the payloads join up to the input.
func TestWriteDataSplit(t *testing.T) {
	tests := []struct {
		n, max int
		frames []int
	}{
		{0, 65531, []int{0}},
		{1, 65531, []int{1}},
		{65531, 65531, []int{65531}},
		{65532, 65531, []int{65531, 1}},
		{256 << 10, 65531, []int{65531, 65531, 65531, 65531, 20}},
		{300, 126, []int{126, 126, 48}},
		{20, 7, []int{7, 7, 6}},
	}
	for _, fromClient := range []bool{true, false} {
		for _, tc := range tests {
			var wire bytes.Buffer
			w := NewWriter(&wire, fromClient)
			payload := make([]byte, tc.n)
			for i := range payload {
				payload[i] = byte(i*7 + i>>8)
			}
			buf := append(make([]byte, MaxHeader), payload...)
			if err := w.WriteDataSplit(buf, MaxHeader, tc.max); err != nil {
				t.Fatal(err)
			}
			rd := bytes.NewReader(wire.Bytes())
			var got []byte
			for i, want := range tc.frames {
				f, err := ws.ReadFrame(rd)
				if err != nil {
					t.Fatalf("n=%d frame %d: %v", tc.n, i, err)
				}
				if f.Header.Masked != fromClient || f.Header.OpCode != ws.OpBinary || !f.Header.Fin || int(f.Header.Length) != want {
					t.Fatalf("n=%d frame %d header %+v, want %d bytes", tc.n, i, f.Header, want)
				}
				if f.Header.Masked {
					ws.Cipher(f.Payload, f.Header.Mask, 0)
				}
				got = append(got, f.Payload...)
			}
			if rd.Len() != 0 {
				t.Fatalf("n=%d: %d bytes after the frames", tc.n, rd.Len())
			}
			if !bytes.Equal(got, payload) {
				t.Fatalf("n=%d max=%d client=%v: payload mismatch", tc.n, tc.max, fromClient)
			}
		}
	}
	if err := NewWriter(io.Discard, false).WriteDataSplit(make([]byte, 20), MaxHeader, 0); err == nil {
		t.Fatal("max 0 accepted")
	}
}

// WriteDataParts writes a payload as frames of at most max bytes, each
// header in a write of its own before its payload, without changing the
// payload; a masking writer refuses it.
func TestWriteDataParts(t *testing.T) {
	tests := []struct {
		n, max int
		frames []int
	}{
		{0, 65531, nil},
		{1, 65531, []int{1}},
		{125, 65531, []int{125}},
		{65536, 65536, []int{65536}},
		{65537, 65535, []int{65535, 2}},
		{256 << 10, 65531, []int{65531, 65531, 65531, 65531, 20}},
		{20, 7, []int{7, 7, 6}},
	}
	for _, tc := range tests {
		var wire recordedWrites
		w := NewWriter(&wire, false)
		payload := make([]byte, tc.n)
		for i := range payload {
			payload[i] = byte(i*7 + i>>8)
		}
		orig := bytes.Clone(payload)
		if err := w.WriteDataParts(payload, tc.max); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(payload, orig) {
			t.Fatalf("n=%d: the payload was changed", tc.n)
		}
		if len(wire.writes) != 2*len(tc.frames) {
			t.Fatalf("n=%d: %d writes for %d frames", tc.n, len(wire.writes), len(tc.frames))
		}
		rd := bytes.NewReader(wire.Bytes())
		var got []byte
		for i, want := range tc.frames {
			f, err := ws.ReadFrame(rd)
			if err != nil {
				t.Fatalf("n=%d frame %d: %v", tc.n, i, err)
			}
			if f.Header.Masked || f.Header.OpCode != ws.OpBinary || !f.Header.Fin || int(f.Header.Length) != want {
				t.Fatalf("n=%d frame %d header %+v, want %d bytes", tc.n, i, f.Header, want)
			}
			if len(wire.writes[2*i+1]) != want {
				t.Fatalf("n=%d frame %d: payload write of %d bytes", tc.n, i, len(wire.writes[2*i+1]))
			}
			got = append(got, f.Payload...)
		}
		if rd.Len() != 0 || !bytes.Equal(got, orig) {
			t.Fatalf("n=%d: payload mismatch or %d bytes left", tc.n, rd.Len())
		}
	}
	if err := NewWriter(io.Discard, true).WriteDataParts([]byte("x"), 10); err == nil {
		t.Fatal("a masking writer accepted WriteDataParts")
	}
	if err := NewWriter(io.Discard, false).WriteDataParts([]byte("x"), 0); err == nil {
		t.Fatal("max 0 accepted")
	}
}

// recordedWrites keeps each write apart, and all of them in a buffer.
type recordedWrites struct {
	bytes.Buffer
	writes [][]byte
}

func (r *recordedWrites) Write(p []byte) (int, error) {
	r.writes = append(r.writes, bytes.Clone(p))
	return r.Buffer.Write(p)
}
