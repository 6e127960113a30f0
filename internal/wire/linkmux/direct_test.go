package linkmux

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"io"
	"net"
	"testing"

	"github.com/postern/postern/internal/util/bufpool"
)

// openDirect opens a stream from cli and returns the accepted end at
// srv, once the stream's first bytes were read, so that every later byte
// can go to a direct reader.
func openDirect(t *testing.T, cli, srv *Session) (net.Conn, *Stream) {
	t.Helper()
	s, err := cli.Open(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Write([]byte("hi")); err != nil {
		t.Fatal(err)
	}
	r, err := srv.Accept()
	if err != nil {
		t.Fatal(err)
	}
	var hi [2]byte
	if _, err := io.ReadFull(r, hi[:]); err != nil {
		t.Fatal(err)
	}
	return s, r.(*Stream)
}

// A direct reader (SetDirect) gets a stream's bytes on the receive loop;
// what it leaves, and what follows until the stream's reader caught up,
// goes to the reader: between them every byte arrives once and in order,
// whatever the direct reader takes (-race checks that the two never run
// at once: both append to one slice without a lock of their own). The
// window reopens for what the direct reader takes (8 MiB through a 1 MiB
// window with the reader reading nothing); no buffer stays lent.
func TestDirectReader(t *testing.T) {
	for _, tc := range []struct {
		name string
		take func(n, call int) int // how much of n bytes the direct reader takes on its call-th call
		// direct: every byte after the first frame goes to the direct reader.
		direct bool
	}{
		{"takes everything", func(n, _ int) int { return n }, true},
		{"takes part or nothing", func(n, call int) int {
			switch call % 3 {
			case 0:
				return n
			case 1:
				return n / 3
			}
			return 0
		}, false},
		{"takes nothing", func(int, int) int { return 0 }, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, b := tlsPair(t, nil)
			cli, _ := Opener(a, Config{})
			defer cli.Close()
			srv, _ := Acceptor(b, Config{})
			defer srv.Close()
			lent := bufpool.Lent()
			s, st := openDirect(t, cli, srv)

			var got []byte // appended by the direct reader and the reader in turn
			calls, direct := 0, 0
			st.SetDirect(func(p []byte) int {
				n := tc.take(len(p), calls)
				calls++
				got = append(got, p[:n]...)
				direct += n
				return n
			})
			msg := make([]byte, 8<<20)
			rand.Read(msg)
			wrote := make(chan error, 1)
			go func() {
				_, err := s.Write(msg)
				if err == nil {
					err = s.Close()
				}
				wrote <- err
			}()
			borrowed := 0
			for range len(msg) + 1 { // bounded: each borrow brings a byte at least
				p, err := st.Borrow(64 << 10)
				if errors.Is(err, io.EOF) {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
				got = append(got, p...)
				borrowed += len(p)
				if err := st.Consume(len(p)); err != nil {
					t.Fatal(err)
				}
			}
			if err := <-wrote; err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, msg) {
				t.Fatalf("%d bytes arrived (%d direct, %d borrowed), not the %d sent in order", len(got), direct, borrowed, len(msg))
			}
			if tc.direct && borrowed != 0 {
				t.Errorf("%d bytes went to the reader, want every one direct", borrowed)
			}
			if !tc.direct && borrowed == 0 {
				t.Errorf("no byte went to the reader")
			}
			st.Close()
			if n := bufpool.Lent() - lent; n != 0 {
				t.Errorf("%d buffers still lent", n)
			}
		})
	}
}

// A stream whose direct reader takes nothing and whose reader does not
// read (a target that stopped reading) holds its window and no more, and
// stalls no other stream: 8 MiB flow beside it, and its own bytes arrive
// intact, in order, once its reader reads.
func TestStalledDirectStreamStallsNoOther(t *testing.T) {
	a, b := tlsPair(t, nil)
	cli, _ := Opener(a, Config{})
	defer cli.Close()
	srv, _ := Acceptor(b, Config{})
	defer srv.Close()

	stalled, sst := openDirect(t, cli, srv)
	sst.SetDirect(func([]byte) int { return 0 })
	msg := make([]byte, 4<<20)
	rand.Read(msg)
	wrote := make(chan error, 1)
	go func() {
		_, err := stalled.Write(msg)
		wrote <- err
	}()

	flowing, fst := openDirect(t, cli, srv)
	var got []byte
	fst.SetDirect(func(p []byte) int {
		got = append(got, p...)
		return len(p)
	})
	other := make([]byte, 8<<20)
	rand.Read(other)
	if _, err := flowing.Write(other); err != nil {
		t.Fatal(err)
	}
	if err := flowing.Close(); err != nil {
		t.Fatal(err)
	}
	// The direct reader takes every byte, but the last frame's first
	// chunks may still be read here while its rest arrives (the reader
	// takes what is buffered): the two see one sequence (got, appended by
	// both in turn).
	for range len(other) + 1 { // bounded: each borrow brings a byte at least
		p, err := fst.Borrow(64 << 10)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("after the flowing stream's bytes: %v, want EOF", err)
		}
		got = append(got, p...)
		if err := fst.Consume(len(p)); err != nil {
			t.Fatal(err)
		}
	}
	if !bytes.Equal(got, other) {
		t.Fatalf("the flowing stream delivered %d bytes, not the %d sent in order", len(got), len(other))
	}
	sst.mu.Lock()
	buffered := sst.buffered
	sst.mu.Unlock()
	if buffered > DefaultStreamWindow {
		t.Fatalf("the stalled stream buffers %d bytes, more than its window", buffered)
	}
	select {
	case err := <-wrote:
		t.Fatalf("the stalled stream's writer finished (%v) while nothing was read", err)
	default:
	}
	back := make([]byte, len(msg))
	if _, err := io.ReadFull(sst, back); err != nil {
		t.Fatal(err)
	}
	if err := <-wrote; err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(back, msg) {
		t.Fatal("the stalled stream's bytes differ")
	}
}

// A Close while the direct reader has bytes in hand leaves them intact
// until it returns, then gives every buffer back; the reader sees the
// stream closed.
func TestCloseDuringDirectTake(t *testing.T) {
	a, b := tlsPair(t, nil)
	cli, _ := Opener(a, Config{})
	defer cli.Close()
	srv, _ := Acceptor(b, Config{})
	defer srv.Close()
	lent := bufpool.Lent()
	s, st := openDirect(t, cli, srv)

	inTake, closed := make(chan []byte, 1), make(chan struct{})
	st.SetDirect(func(p []byte) int {
		inTake <- bytes.Clone(p)
		<-closed
		if string(p) != "payload" {
			t.Errorf("the direct reader's bytes changed under it: %q", p)
		}
		return 1
	})
	if _, err := s.Write([]byte("payload")); err != nil {
		t.Fatal(err)
	}
	if p := <-inTake; string(p) != "payload" {
		t.Fatalf("the direct reader got %q", p)
	}
	st.Close()
	close(closed)
	if _, err := st.Borrow(1); !errors.Is(err, ErrStreamClosed) {
		t.Fatalf("Borrow after Close: %v, want ErrStreamClosed", err)
	}
	// The next frame finds the stream closed here and is dropped (the
	// stream is reset), so it never reaches the direct reader.
	_, _ = s.Write([]byte("more"))
	if _, err := cli.Ping(); err != nil {
		t.Fatal(err)
	}
	st.mu.Lock()
	rq := len(st.rq)
	st.mu.Unlock()
	if rq != 0 {
		t.Errorf("the closed stream keeps %d chunks", rq)
	}
	if n := bufpool.Lent() - lent; n != 0 {
		t.Errorf("%d buffers still lent", n)
	}
}
