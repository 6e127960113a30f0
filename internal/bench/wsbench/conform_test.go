package wsbench

import (
	"bytes"
	"net/http"
	"testing"

	"github.com/gobwas/ws"
)

// TestConformance checks, for every library, the behaviour the AWS CLI
// needs: 65,000-byte masked frames, empty frames, PING→PONG, BINARY-only
// server frames, a server CLOSE with code and reason, and a CLOSE answer to
// the CLI's empty CLOSE. It keeps the benchmarks honest.
func TestConformance(t *testing.T) {
	_, caPEM := testCert(t)
	cfg, err := clientTLSConfig(caPEM)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range libs {
		t.Run(l.name, func(t *testing.T) {
			received := make(chan struct{})
			var src *chanSource
			done := make(chan struct{}, 2)
			down := bytes.Repeat([]byte("0123456789"), 7000) // 70,000 bytes: two server frames
			addr := startServer(t, l.serve, func(r *http.Request) tunnel {
				src = newChanSource(nil, bytes.Clone(down))
				return tunnel{
					src:  src,
					sink: writerOnly{&signalSink{want: clientFrame, onTotal: func() { close(received) }}},
					done: func() { done <- struct{}{} },
				}
			})

			// 1. Data both ways, empty frame, ping; server ends with CLOSE 1000 "eof".
			conn, err := dialTLS(addr, cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			c := newRawClient(conn, 4096)
			if err := c.upgrade("remotePort=22"); err != nil {
				t.Fatal(err)
			}
			up := bytes.Repeat([]byte{0xa5}, clientFrame)
			for _, f := range []struct {
				op ws.OpCode
				p  []byte
			}{{ws.OpBinary, up}, {ws.OpBinary, nil}, {ws.OpPing, []byte("p1")}} {
				if err := c.writeFrame(f.op, f.p); err != nil {
					t.Fatal(err)
				}
			}
			var got []byte
			pong := false
			for len(got) < len(down) || !pong {
				h, p, err := c.readFrame()
				if err != nil {
					t.Fatal(err)
				}
				switch h.OpCode {
				case ws.OpBinary:
					got = append(got, p...)
				case ws.OpPong:
					if string(p) != "p1" {
						t.Fatalf("pong payload %q", p)
					}
					pong = true
				default:
					t.Fatalf("unexpected frame %v", h.OpCode)
				}
			}
			if !bytes.Equal(got, down) {
				t.Fatal("server→client data differs")
			}
			<-received
			src.finish()
			h, p, err := c.readFrame()
			if err != nil {
				t.Fatal(err)
			}
			code, reason := ws.ParseCloseFrameData(p)
			if h.OpCode != ws.OpClose || code != ws.StatusNormalClosure || reason != "eof" {
				t.Fatalf("want CLOSE 1000 eof, got %v %d %q", h.OpCode, code, reason)
			}
			if err := c.writeFrame(ws.OpClose, p[:2]); err != nil {
				t.Fatal(err)
			}
			if _, _, err := c.readFrame(); err == nil {
				t.Fatal("connection still open after close handshake")
			}
			<-done

			// 2. The CLI closes with an empty CLOSE; the server answers CLOSE.
			conn2, err := dialTLS(addr, cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer conn2.Close()
			c2 := newRawClient(conn2, 4096)
			if err := c2.upgrade("remotePort=22"); err != nil {
				t.Fatal(err)
			}
			var n int
			for n < len(down) {
				h, p, err := c2.readFrame()
				if err != nil {
					t.Fatal(err)
				}
				if h.OpCode != ws.OpBinary {
					t.Fatalf("unexpected %v", h.OpCode)
				}
				n += len(p)
			}
			if err := c2.writeFrame(ws.OpClose, nil); err != nil {
				t.Fatal(err)
			}
			h, p, err = c2.readFrame()
			if err != nil {
				t.Fatal(err)
			}
			if h.OpCode != ws.OpClose {
				t.Fatalf("want CLOSE, got %v", h.OpCode)
			}
			if code, _ := ws.ParseCloseFrameData(p); len(p) != 0 && code != ws.StatusNormalClosure {
				t.Fatalf("close reply code %d", code)
			}
			if _, _, err := c2.readFrame(); err == nil {
				t.Fatal("connection still open after close handshake")
			}
			<-done
		})
	}
}
