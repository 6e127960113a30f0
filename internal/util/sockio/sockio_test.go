package sockio

import (
	"bytes"
	"crypto/rand"
	"errors"
	"io"
	"net"
	"os"
	"runtime"
	"sync"
	"syscall"
	"testing"
	"time"
)

// tcpPair returns both ends of a loopback TCP connection. With small set,
// both ends' socket buffers are shrunk so that a write of a few MiB to a
// peer that does not keep up has to wait for room (EAGAIN). (Far smaller
// buffers make loopback TCP crawl: seconds per MiB.)
func tcpPair(t *testing.T, small bool) (a, b *net.TCPConn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
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
	ca, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	r := <-ch
	if r.err != nil {
		t.Fatal(r.err)
	}
	a, b = ca.(*net.TCPConn), r.c.(*net.TCPConn)
	t.Cleanup(func() { a.Close(); b.Close() })
	if small {
		for _, c := range []*net.TCPConn{a, b} {
			if err := c.SetReadBuffer(32 << 10); err != nil {
				t.Fatal(err)
			}
			if err := c.SetWriteBuffer(32 << 10); err != nil {
				t.Fatal(err)
			}
		}
	}
	return a, b
}

// TestRoundTrip moves payloads of several sizes both ways at once between
// two Sockets (raw system calls on Linux) and checks every byte, with
// socket buffers small enough that writes wait for room.
func TestRoundTrip(t *testing.T) {
	tests := []struct {
		name  string
		size  int
		small bool
	}{
		{"one byte", 1, false},
		{"64 KiB", 64 << 10, false},
		{"3 MiB", 3 << 20, false},
		{"4 MiB, small socket buffers", 4 << 20, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a, b := tcpPair(t, tc.small)
			sa, sb := Of(a), Of(b)
			if raw && (sa.rc == nil || sb.rc == nil) {
				t.Fatal("a TCP connection did not get the raw path")
			}
			up, down := make([]byte, tc.size), make([]byte, tc.size)
			rand.Read(up)
			rand.Read(down)
			errs := make(chan error, 2)
			send := func(s Socket, c *net.TCPConn, p []byte) {
				n, err := s.Write(p)
				if err == nil && n != len(p) {
					err = io.ErrShortWrite
				}
				if err == nil {
					err = c.CloseWrite()
				}
				errs <- err
			}
			go send(sa, a, up)
			go send(sb, b, down)
			gotUp, err := readAll(sb, 777)
			if err != nil {
				t.Fatal(err)
			}
			gotDown, err := readAll(sa, 64<<10)
			if err != nil {
				t.Fatal(err)
			}
			for range 2 {
				if err := <-errs; err != nil {
					t.Fatal(err)
				}
			}
			if !bytes.Equal(gotUp, up) || !bytes.Equal(gotDown, down) {
				t.Fatalf("bytes differ: up %d of %d, down %d of %d", len(gotUp), len(up), len(gotDown), len(down))
			}
		})
	}
}

// readAll reads s until io.EOF in reads of at most chunk bytes.
func readAll(s Socket, chunk int) ([]byte, error) {
	var out []byte
	buf := make([]byte, chunk)
	for range 1 << 20 {
		n, err := s.Read(buf)
		out = append(out, buf[:n]...)
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return out, err
		}
	}
	return out, errors.New("too many reads")
}

// TestErrors checks that a Socket reports the ends and failures of a
// connection as the connection's own Read and Write do: io.EOF at the
// peer's end, a reset as syscall.ECONNRESET, deadlines as timeouts
// (os.ErrDeadlineExceeded) with the bytes written so far, and a Close
// from another goroutine as net.ErrClosed.
func TestErrors(t *testing.T) {
	tests := []struct {
		name  string
		small bool
		run   func(t *testing.T, a, b *net.TCPConn, s Socket) error
		want  func(err error) bool
	}{
		{"peer closed: EOF", false, func(t *testing.T, a, b *net.TCPConn, s Socket) error {
			b.Close()
			_, err := s.Read(make([]byte, 10))
			return err
		}, func(err error) bool { return err == io.EOF }},
		{"peer reset: read", false, func(t *testing.T, a, b *net.TCPConn, s Socket) error {
			b.SetLinger(0)
			b.Close()
			_, err := s.Read(make([]byte, 10))
			return err
		}, func(err error) bool { return errors.Is(err, syscall.ECONNRESET) }},
		{"peer reset: write", false, func(t *testing.T, a, b *net.TCPConn, s Socket) error {
			b.SetLinger(0)
			b.Close()
			// The first write may still be accepted; the reset fails a
			// later one.
			for range 100 {
				if _, err := s.Write(make([]byte, 64<<10)); err != nil {
					return err
				}
			}
			return nil
		}, func(err error) bool { return errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) }},
		{"read deadline", false, func(t *testing.T, a, b *net.TCPConn, s Socket) error {
			a.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
			_, err := s.Read(make([]byte, 10))
			return err
		}, isTimeout},
		{"write deadline, peer not reading", true, func(t *testing.T, a, b *net.TCPConn, s Socket) error {
			a.SetWriteDeadline(time.Now().Add(20 * time.Millisecond))
			p := make([]byte, 8<<20)
			n, err := s.Write(p)
			if n <= 0 || n >= len(p) {
				t.Errorf("wrote %d of %d bytes before the deadline; want some, not all", n, len(p))
			}
			return err
		}, isTimeout},
		{"closed while reading", false, func(t *testing.T, a, b *net.TCPConn, s Socket) error {
			done := make(chan error, 1)
			go func() {
				_, err := s.Read(make([]byte, 10))
				done <- err
			}()
			// The reader is parked in the poller or about to be; either
			// way Close must end its read.
			runtime.Gosched()
			a.Close()
			return <-done
		}, func(err error) bool { return errors.Is(err, net.ErrClosed) }},
		{"closed before reading", false, func(t *testing.T, a, b *net.TCPConn, s Socket) error {
			a.Close()
			_, err := s.Read(make([]byte, 10))
			return err
		}, func(err error) bool { return errors.Is(err, net.ErrClosed) }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a, b := tcpPair(t, tc.small)
			s := Of(a)
			err := tc.run(t, a, b, s)
			if !tc.want(err) {
				t.Fatalf("error %v (%T)", err, err)
			}
			var oe *net.OpError
			if err != io.EOF && !errors.As(err, &oe) {
				t.Errorf("error %T is not a *net.OpError, as the connection's own would be", err)
			}
		})
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, os.ErrDeadlineExceeded) && errors.As(err, &ne) && ne.Timeout()
}

// TestFallback: a connection that is not a TCP socket is read and written
// through its own methods.
func TestFallback(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	s := Of(a)
	if s.rc != nil {
		t.Fatal("a net.Pipe got the raw path")
	}
	go func() { _, _ = b.Write([]byte("hello")); b.Close() }()
	got, err := readAll(s, 2)
	if err != nil || string(got) != "hello" {
		t.Fatalf("got %q, %v", got, err)
	}
	if s.Conn() != a {
		t.Fatal("Conn is not the wrapped connection")
	}
}

// TestWaitAndReadBorrowed: Wait and ReadBorrowed return when the peer
// sent bytes (Wait leaves them to the read), when the peer closed or
// reset, and when the connection was closed here; ReadBorrowed holds no
// buffer while it waits (every borrow before the data came was given
// back) and reads into the last one it borrowed.
func TestWaitAndReadBorrowed(t *testing.T) {
	tests := []struct {
		name    string
		act     func(local, peer *net.TCPConn)
		want    string           // bytes read; "" with wantErr
		wantErr func(error) bool // nil: no error
	}{
		{"bytes", func(_, peer *net.TCPConn) { peer.Write([]byte("hi")) }, "hi", nil},
		{"peer closed", func(_, peer *net.TCPConn) { peer.Close() }, "", func(err error) bool { return err == io.EOF }},
		{"peer reset", func(_, peer *net.TCPConn) { peer.SetLinger(0); peer.Close() },
			"", func(err error) bool { return errors.Is(err, syscall.ECONNRESET) }},
		{"closed here", func(local, _ *net.TCPConn) { local.Close() },
			"", func(err error) bool { return errors.Is(err, net.ErrClosed) }},
	}
	for _, tc := range tests {
		for _, how := range []string{"Wait then Read", "ReadBorrowed"} {
			t.Run(tc.name+"/"+how, func(t *testing.T) {
				local, peer := tcpPair(t, false)
				s := Of(local)
				type result struct {
					got           string
					err           error
					held, borrows int
				}
				done := make(chan result, 1)
				go func() {
					var r result
					buf := make([]byte, 8)
					if how == "Wait then Read" {
						if r.err = s.Wait(); r.err == nil {
							var n int
							n, r.err = s.Read(buf)
							r.got = string(buf[:n])
						}
						done <- r
						return
					}
					var n int
					n, r.err = s.ReadBorrowed(
						func() []byte { r.held++; r.borrows++; return buf },
						func() { r.held-- })
					r.got = string(buf[:n])
					done <- r
				}()
				tc.act(local, peer)
				r := <-done
				switch {
				case tc.wantErr == nil && (r.err != nil || r.got != tc.want):
					t.Fatalf("read %q, %v; want %q", r.got, r.err, tc.want)
				case tc.wantErr != nil && !tc.wantErr(r.err):
					t.Fatalf("read %q, error %v; want another error", r.got, r.err)
				}
				if how == "ReadBorrowed" && raw && r.held > 1 {
					t.Fatalf("%d buffers held after %d borrows; want at most the last", r.held, r.borrows)
				}
			})
		}
	}
}

// TestReadBorrowedIdle: while the peer is silent, a waiting ReadBorrowed
// holds no buffer.
func TestReadBorrowedIdle(t *testing.T) {
	if !raw {
		t.Skip("the fallback waits for readiness before it borrows")
	}
	local, peer := tcpPair(t, false)
	s := Of(local)
	var mu sync.Mutex
	held, borrows := 0, 0
	buf := make([]byte, 8)
	borrowed := make(chan struct{}, 1)
	done := make(chan error, 1)
	go func() {
		_, err := s.ReadBorrowed(func() []byte {
			mu.Lock()
			held++
			borrows++
			mu.Unlock()
			select {
			case borrowed <- struct{}{}:
			default:
			}
			return buf
		}, func() {
			mu.Lock()
			held--
			mu.Unlock()
		})
		done <- err
	}()
	<-borrowed // the first attempt found nothing (the peer has sent nothing)
	// The attempt gives its buffer back before the poller parks the
	// goroutine; wait (bounded) for that, with no data sent.
	deadline := time.Now().Add(10 * time.Second)
	for {
		mu.Lock()
		h := held
		mu.Unlock()
		if h == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the waiting read still holds its buffer")
		}
		runtime.Gosched()
	}
	if _, err := peer.Write([]byte("x")); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if held != 1 || borrows < 2 {
		t.Fatalf("held %d after %d borrows; want 1 held, at least 2 borrows", held, borrows)
	}
}
