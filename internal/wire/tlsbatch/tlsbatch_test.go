package tlsbatch

import (
	"bytes"
	"crypto/rand"
	"crypto/tls"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/http/httptest"
	"sync"
	"testing"
)

// counter counts the writes that reach the socket.
type counter struct {
	net.Conn
	mu     sync.Mutex
	writes int
}

func (c *counter) Write(p []byte) (int, error) {
	c.mu.Lock()
	c.writes++
	c.mu.Unlock()
	return c.Conn.Write(p)
}

func (c *counter) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.writes
}

// pair returns a TLS client over a batching Conn over a counter, and the
// server end, both handshaken.
func pair(t *testing.T) (client *tls.Conn, bc *Conn, cnt *counter, server *tls.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	srv := httptest.NewUnstartedServer(nil) // only for its test certificate
	srv.StartTLS()
	cert := srv.TLS.Certificates[0]
	srv.Close()
	accepted := make(chan *tls.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			accepted <- nil
			return
		}
		s := tls.Server(c, &tls.Config{Certificates: []tls.Certificate{cert}})
		_ = s.Handshake()
		accepted <- s
	}()
	raw, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	cnt = &counter{Conn: raw}
	bc = Wrap(cnt)
	client = tls.Client(bc, &tls.Config{InsecureSkipVerify: true}) //nolint:gosec // a test certificate
	if err := client.Handshake(); err != nil {
		t.Fatal(err)
	}
	server = <-accepted
	if server == nil {
		t.Fatal("accept failed")
	}
	t.Cleanup(func() { client.Close(); server.Close() })
	return client, bc, cnt, server
}

// A batch sends every record of a write in one system call; outside a
// batch each record is its own. The bytes arrive intact either way.
func TestBatchOneWrite(t *testing.T) {
	tests := []struct {
		name      string
		size      int
		batch     bool
		maxWrites int
	}{
		{"64 KiB batched", 64 << 10, true, 1},
		{"200 KiB batched", 200 << 10, true, 1},
		{"small batched", 10, true, 1},
		{"64 KiB unbatched", 64 << 10, false, 100},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			client, bc, cnt, server := pair(t)
			msg := make([]byte, tc.size)
			rand.Read(msg)
			got := make(chan []byte, 1)
			go func() {
				b := make([]byte, tc.size)
				_, _ = io.ReadFull(server, b)
				got <- b
			}()
			before := cnt.count()
			write := func() error { _, err := client.Write(msg); return err }
			var err error
			if tc.batch {
				err = bc.Batch(write)
			} else {
				err = write()
			}
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(<-got, msg) {
				t.Fatal("the bytes differ")
			}
			n := cnt.count() - before
			if n > tc.maxWrites || !tc.batch && n < tc.size/(16<<10) {
				t.Errorf("%d socket writes", n)
			}
		})
	}
}

// Concurrent batched and unbatched writers on one TLS connection: every
// record reaches the peer in crypto/tls's order (a reordered record would
// fail the peer's decryption), and every message arrives whole.
func TestConcurrentWriters(t *testing.T) {
	client, bc, _, server := pair(t)
	const writers, each = 4, 50
	var wmu sync.Mutex // whole messages, as a tunnel's writer keeps them
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := range each {
				size := 10 + (w*each+i)%3*(30<<10)
				msg := make([]byte, 8+size)
				binary.BigEndian.PutUint32(msg, uint32(size))
				binary.BigEndian.PutUint32(msg[4:], uint32(w))
				for j := range msg[8:] {
					msg[8+j] = byte(w)
				}
				write := func() error {
					wmu.Lock()
					defer wmu.Unlock()
					_, err := client.Write(msg)
					return err
				}
				var err error
				if i%2 == 0 {
					err = bc.Batch(write)
				} else {
					err = write()
				}
				if err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	done := make(chan error, 1)
	go func() {
		for range writers * each {
			var hdr [8]byte
			if _, err := io.ReadFull(server, hdr[:]); err != nil {
				done <- err
				return
			}
			size, w := binary.BigEndian.Uint32(hdr[:]), byte(binary.BigEndian.Uint32(hdr[4:]))
			body := make([]byte, size)
			if _, err := io.ReadFull(server, body); err != nil {
				done <- err
				return
			}
			if bytes.Count(body, []byte{w}) != len(body) {
				done <- fmt.Errorf("message of writer %d mixed with another", w)
				return
			}
		}
		done <- nil
	}()
	wg.Wait()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// Of finds the Conn beneath a tls.Conn and beneath wrappers that expose
// NetConn, and nothing beneath a plain connection.
func TestOf(t *testing.T) {
	client, bc, _, _ := pair(t)
	type wrapper struct{ net.Conn }
	tests := []struct {
		name string
		c    net.Conn
		want *Conn
	}{
		{"tls.Conn", client, bc},
		{"the Conn itself", bc, bc},
		{"wrapped", netConner{client}, bc},
		{"plain", wrapper{client}, nil},
	}
	for _, tc := range tests {
		if got := Of(tc.c); got != tc.want {
			t.Errorf("%s: %p, want %p", tc.name, got, tc.want)
		}
	}
}

type netConner struct{ net.Conn }

func (n netConner) NetConn() net.Conn { return n.Conn }

// Send batches only writes of several records, and runs fn directly on a
// nil Conn.
func TestSend(t *testing.T) {
	client, bc, cnt, server := pair(t)
	go func() { _, _ = io.Copy(io.Discard, server) }()
	// Past crypto/tls's small records at a connection's start (dynamic
	// record sizing), a write of Record bytes is one record.
	if _, err := client.Write(make([]byte, 256<<10)); err != nil {
		t.Fatal(err)
	}
	for _, n := range []int{100, Record, 3 * Record} {
		msg := make([]byte, n)
		before := cnt.count()
		if err := bc.Send(n, func() error { _, err := client.Write(msg); return err }); err != nil {
			t.Fatal(err)
		}
		if got := cnt.count() - before; got != 1 {
			t.Errorf("%d bytes: %d socket writes, want 1", n, got)
		}
	}
	var none *Conn
	ran := false
	if err := none.Send(3*Record, func() error { ran = true; return nil }); err != nil || !ran {
		t.Errorf("nil Conn: ran %v, %v", ran, err)
	}
}
