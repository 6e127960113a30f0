//go:build unix

package linkmux

import (
	"context"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// smallBufPair returns both ends of a loopback TCP connection whose
// sockets have small send and receive buffers (set before the handshake,
// so the advertised window is small too): the link's buffers fill after a
// few kilobytes, as a slow or busy link's do.
func smallBufPair(t testing.TB, size int) (net.Conn, net.Conn) {
	t.Helper()
	ctl := func(_, _ string, c syscall.RawConn) error {
		var serr error
		err := c.Control(func(fd uintptr) {
			if serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_SNDBUF, size); serr == nil {
				serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, size)
			}
		})
		if err != nil {
			return err
		}
		return serr
	}
	ln, err := (&net.ListenConfig{Control: ctl}).Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	type res struct {
		c   net.Conn
		err error
	}
	ch := make(chan res, 1)
	go func() {
		c, err := ln.Accept()
		ch <- res{c, err}
	}()
	a, err := (&net.Dialer{Control: ctl}).Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	r := <-ch
	if r.err != nil {
		t.Fatal(r.err)
	}
	t.Cleanup(func() { a.Close(); r.c.Close() })
	return a, r.c
}

// Both directions of a link carry bulk data at once, on several streams,
// each read by a direct reader that takes every byte (so every window
// update falls due on the receive loop), over sockets with small buffers,
// with this package on both sides: every byte arrives and neither session
// ends. A receive loop that waited on a write of a window update while
// the link's send buffer was full, with the peer's receive loop waiting
// likewise, would leave both waiting until the write timeout ended the
// link; the writers here leave their send buffers full between pieces
// and, paced (lag), idle with them full, when the receive loop of 5978dfb
// wrote its update itself. That one did not hang here in the runs made
// (the window needs both loops to block within the few kilobytes in
// flight); TestWindowUpdateNeverStallsTheReceiveLoop holds the property
// itself. This one guards the whole: bulk both ways, small buffers.
func TestBulkBothWaysOnSmallBuffers(t *testing.T) {
	for _, tc := range []struct {
		streams int
		size    int // each way, per stream
		piece   int // each Write
		buf     int // socket buffers
		tls     bool
		lag     int // bytes a writer sends ahead of the peer's reader (0: any)
	}{
		{4, 4 << 20, 4 << 10, 4 << 10, false, 8 << 10},
		{16, 1 << 20, 4 << 10, 4 << 10, false, 16 << 10},
		{4, 4 << 20, 4 << 10, 4 << 10, true, 16 << 10},
		{1, 8 << 20, 16 << 10, 4 << 10, false, 0},
		{4, 4 << 20, 16 << 10, 4 << 10, false, 0},
		{32, 1 << 20, 64 << 10, 32 << 10, false, 0},
		{8, 4 << 20, 1 << 20, 128 << 10, false, 0},
	} {
		t.Run(fmt.Sprintf("streams=%d/size=%d/piece=%d/buf=%d/tls=%v/lag=%d", tc.streams, tc.size, tc.piece, tc.buf, tc.tls, tc.lag), func(t *testing.T) {
			a, b := smallBufPair(t, tc.buf)
			if tc.tls {
				a, b = tlsOn(t, a, b, nil)
			}
			cfg := Config{KeepAliveInterval: time.Hour, StreamWindow: initialWindow}
			cli, _ := Opener(a, cfg)
			defer cli.Close()
			srv, _ := Acceptor(b, cfg)
			defer srv.Close()

			var got atomic.Int64 // bytes the direct readers took, both sides
			want := int64(2 * tc.streams * tc.size)
			all := make(chan struct{})
			var wg sync.WaitGroup
			errs := make(chan error, 2*tc.streams)
			msg := make([]byte, tc.size)
			for range tc.streams {
				s, st := openDirect(t, cli, srv)
				for _, dir := range []struct {
					w net.Conn
					r *Stream
				}{{s, st}, {st, s.(*Stream)}} {
					var taken atomic.Int64 // by dir.r's direct reader
					more := make(chan struct{}, 1)
					dir.r.SetDirect(func(p []byte) int {
						taken.Add(int64(len(p)))
						notify(more)
						if got.Add(int64(len(p))) == want {
							close(all)
						}
						return len(p)
					})
					wg.Add(1)
					go func() {
						defer wg.Done()
						// In a tunnel's pieces (the write lock is free
						// between frames, with the send buffer full),
						// with at most lag bytes unread by the peer
						// (the writer then waits, its send buffer full,
						// holding no lock: a tunnel whose source waits
						// for an answer).
						sent := 0
						for p := msg; len(p) > 0; p = p[min(len(p), tc.piece):] {
							if _, err := dir.w.Write(p[:min(len(p), tc.piece)]); err != nil {
								errs <- err
								return
							}
							sent += min(len(p), tc.piece)
							for tc.lag > 0 && int64(sent)-taken.Load() > int64(tc.lag) {
								select {
								case <-more:
								case <-cli.Done():
									return
								case <-srv.Done():
									return
								}
							}
						}
					}()
				}
			}
			select {
			case <-all:
			case <-cli.Done():
				t.Fatalf("the opener's session ended with %d of %d bytes through: %v", got.Load(), want, cli.err)
			case <-srv.Done():
				t.Fatalf("the acceptor's session ended with %d of %d bytes through: %v", got.Load(), want, srv.err)
			}
			// The last take returns its chunk to the pool after it
			// closed all: a ping each way, answered behind the last
			// data frame, waits for both receive loops to finish with
			// it, so that no Put of this test's lands in the next one's
			// bufpool.Lent count (TestDirectReader read -1 that way).
			for _, s := range []*Session{cli, srv} {
				if _, err := s.ping(); err != nil {
					t.Fatal(err)
				}
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Fatal(err)
			}
		})
	}
}
