package tunnelbench

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"
)

// The open floor's helpers (BenchmarkOpenFloorCLI): the processes of a
// chain of Postern's shape that do, per connection, only what a tunnel
// physically needs. They run as relay helpers (relayHelper) whose
// relayModeEnv starts with "open-":
//
//	open-client   listens on plain TCP; per connection a TCP dial to the
//	              server, a resumed TLS 1.3 handshake (session tickets,
//	              X25519 alone: Postern's client resumes with its
//	              `classical` configuration), one HTTP/1.1 upgrade request
//	              of Postern's signed open request's bytes (openFloorReqEnv),
//	              the 101 read, then a relay
//	open-server1  TLS in; reads the request, records the attempt (when
//	              openFloorRecordEnv names a file), dials the target itself
//	              (relayNextEnv), answers 101, relays once the dial and the
//	              record are done (the one-hop path)
//	open-server2  the same, but the target is reached through a stream
//	              on ONE persistent TLS link to the agent helper
//	              (relayNextEnv: the agent's address; openFloorTargetEnv:
//	              the target's)
//	open-agent    TLS in: the link; per open frame a TCP dial to the
//	              target, then a relay between the stream and the target
const (
	openFloorReqEnv    = "POSTERN_TUNNELBENCH_OPENFLOOR_REQUEST" // the upgrade request's bytes (openFloorRequest)
	openFloorRecordEnv = "POSTERN_TUNNELBENCH_OPENFLOOR_RECORD"  // the server's record file, or "" for none
	openFloorTargetEnv = "POSTERN_TUNNELBENCH_OPENFLOOR_TARGET"  // open-server2: the target the agent dials
)

// openFloorAnswer is the server's 101, the size of Postern's (frontdoor:
// Upgrade, Connection, Sec-WebSocket-Accept and a request id).
const openFloorAnswer = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
	"Sec-WebSocket-Accept: QtEX6mHl0I0T3hfuFIlVLkb6cLY=\r\nx-amzn-RequestId: 83c3f923-507f-7265-fabb-967ec5c4e1fe\r\n\r\n"

// openFloorBuf is the open floor's copy buffer, pooled: opens move a few
// bytes, and a fresh 256 KiB buffer per direction and connection (the
// relay floor's) would measure the allocator, not the open.
const openFloorBuf = 32 << 10

var openFloorBufs = sync.Pool{New: func() any { b := make([]byte, openFloorBuf); return &b }}

// openFloorRecordSize is the size of one attempt's record: about a
// JSON line of Postern's OpenTunnel event.
const openFloorRecordSize = 512

// openFloorHelper runs one open-floor process (mode: see above) until its
// stdin ends.
func openFloorHelper(mode string) int {
	raiseNoFile(1 << 20)
	fail := func(err error) int {
		fmt.Fprintf(os.Stderr, "open floor %s: %v\n", mode, err)
		return 1
	}
	pemData := []byte(os.Getenv(relayCertEnv))
	cert, err := tls.X509KeyPair(pemData, pemData)
	if err != nil {
		return fail(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(pemData)
	// The server side: Go's defaults (session tickets on), as Postern's
	// server and agent use them.
	serverCfg := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS13, NextProtos: []string{"http/1.1"}}
	next := os.Getenv(relayNextEnv)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fail(err)
	}
	defer ln.Close()
	var serve func(net.Conn)
	switch mode {
	case "open-client":
		// Postern's client after its first tunnel: sessions resumed,
		// X25519 alone (internal/client: tlsConfigs' classical).
		cfg := &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS13, ServerName: "127.0.0.1",
			NextProtos: []string{"http/1.1"}, CurvePreferences: []tls.CurveID{tls.X25519},
			ClientSessionCache: tls.NewLRUClientSessionCache(64)}
		req := []byte(os.Getenv(openFloorReqEnv))
		serve = func(c net.Conn) { openFloorClientConn(c, next, cfg, req) }
	case "open-server1", "open-server2":
		rec, err := newFloorRecorder(os.Getenv(openFloorRecordEnv))
		if err != nil {
			return fail(err)
		}
		var link *floorLink
		if mode == "open-server2" {
			cfg := &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS13, ServerName: "127.0.0.1"}
			lc, err := (&tls.Dialer{Config: cfg}).DialContext(context.Background(), "tcp", next)
			if err != nil {
				return fail(err)
			}
			link = newFloorLink(lc, nil)
			go link.readLoop()
			next = os.Getenv(openFloorTargetEnv)
		}
		ln = tls.NewListener(ln, serverCfg)
		serve = func(c net.Conn) { openFloorServerConn(c, next, link, rec) }
	case "open-agent":
		ln = tls.NewListener(ln, serverCfg)
		serve = func(c net.Conn) {
			// The link: one connection, many streams, until it ends.
			l := newFloorLink(c, func(l *floorLink, id uint32, s *floorStream, target string) {
				t, err := net.Dial("tcp", target)
				if err != nil {
					fmt.Fprintln(os.Stderr, "open floor agent: dial:", err)
					l.send(floorClose, id, nil)
					for range s.in { // what the server sent meanwhile
					}
					return
				}
				l.relay(id, s, t)
			})
			l.readLoop()
		}
	default:
		return fail(errors.New("unknown mode"))
	}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				if !errors.Is(err, net.ErrClosed) {
					fmt.Fprintf(os.Stderr, "open floor %s: %v\n", mode, err)
				}
				return
			}
			go serve(c)
		}
	}()
	fmt.Println(ln.Addr().String())
	_, _ = io.Copy(io.Discard, os.Stdin)
	return 0
}

// openFloorClientConn is the client helper's work for one local
// connection c: TCP and TLS to the server (resumed after the first),
// the upgrade request, the 101, then the relay.
func openFloorClientConn(c net.Conn, server string, cfg *tls.Config, req []byte) {
	defer c.Close()
	s, err := (&tls.Dialer{Config: cfg}).DialContext(context.Background(), "tcp", server)
	if err != nil {
		fmt.Fprintln(os.Stderr, "open floor client: dial:", err)
		return
	}
	defer s.Close()
	if _, err := s.Write(req); err != nil {
		fmt.Fprintln(os.Stderr, "open floor client: request:", err)
		return
	}
	br := bufio.NewReaderSize(s, 4096)
	head, err := readHead(br)
	if err != nil || !bytes.HasPrefix(head, []byte("HTTP/1.1 101 ")) {
		fmt.Fprintf(os.Stderr, "open floor client: answer %q: %v\n", head, err)
		return
	}
	floorBoth(c, &bufferedConn{Conn: s, r: br})
}

// openFloorServerConn is the server helper's work for one connection c:
// the request read, the attempt recorded (rec; its commit overlapping the
// rest), the target dialed (one hop: target) or a stream opened on link
// (two hops), the 101 written, and, once the target is reached and the
// record is on disk, the relay: as Postern's front door answers 101
// while the dial and the commit run, and lets no byte through before
// both are done.
func openFloorServerConn(c net.Conn, target string, link *floorLink, rec *floorRecorder) {
	defer c.Close()
	br := bufio.NewReaderSize(c, 4096)
	if _, err := readHead(br); err != nil {
		fmt.Fprintln(os.Stderr, "open floor server: request:", err)
		return
	}
	committed := rec.add()
	cc := &bufferedConn{Conn: c, r: br}
	if link != nil {
		id := link.nextID.Add(1)
		s := link.add(id)
		link.send(floorOpen, id, []byte(target))
		if _, err := io.WriteString(c, openFloorAnswer); err != nil {
			link.send(floorClose, id, nil)
			for range s.in {
			}
			return
		}
		if err := <-committed; err != nil {
			fmt.Fprintln(os.Stderr, "open floor server: record:", err)
			link.send(floorClose, id, nil)
			for range s.in {
			}
			return
		}
		link.relay(id, s, cc)
		return
	}
	dialed := make(chan net.Conn, 1)
	go func() {
		t, err := net.Dial("tcp", target)
		if err != nil {
			fmt.Fprintln(os.Stderr, "open floor server: dial:", err)
		}
		dialed <- t
	}()
	_, werr := io.WriteString(c, openFloorAnswer)
	t, cerr := <-dialed, <-committed
	if t == nil {
		return
	}
	defer t.Close()
	if werr != nil || cerr != nil {
		return
	}
	floorBoth(cc, t)
}

// readHead reads an HTTP head (up to the empty line) from br.
func readHead(br *bufio.Reader) ([]byte, error) {
	var head []byte
	for {
		line, err := br.ReadSlice('\n')
		head = append(head, line...)
		if err != nil {
			return head, err
		}
		if len(line) <= 2 && strings.TrimSpace(string(line)) == "" {
			return head, nil
		}
		if len(head) > 64<<10 {
			return head, errors.New("head too long")
		}
	}
}

// bufferedConn is a connection read through the reader that read its
// HTTP head (which may hold what followed).
type bufferedConn struct {
	net.Conn
	r *bufio.Reader
}

func (c *bufferedConn) Read(p []byte) (int, error) { return c.r.Read(p) }

// CloseWrite half-closes the connection (a TLS one sends close_notify).
func (c *bufferedConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

// floorBoth copies a to b and b to a with pooled buffers until both
// directions ended, each passing its end on (half-close).
func floorBoth(a, b net.Conn) {
	var wg sync.WaitGroup
	wg.Go(func() { floorCopy(b, a) })
	floorCopy(a, b)
	wg.Wait()
}

// floorCopy copies src to dst, then half-closes dst.
func floorCopy(dst, src net.Conn) {
	bp := openFloorBufs.Get().(*[]byte)
	defer openFloorBufs.Put(bp)
	buf := *bp
	for {
		n, err := src.Read(buf)
		if n > 0 {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				break
			}
		}
		if err != nil {
			break
		}
	}
	if cw, ok := dst.(interface{ CloseWrite() error }); ok {
		_ = cw.CloseWrite()
	}
}

// --- the link: streams over one TLS connection ---

// The link's frames: a 9-byte header (type, stream id, payload length,
// big-endian) and the payload. open carries the target's address; data
// the stream's bytes; close the end of the sender's direction.
const (
	floorOpen  = 1
	floorData  = 2
	floorClose = 3
)

// floorLink is one end of the server–agent link.
type floorLink struct {
	c      net.Conn
	r      *bufio.Reader
	wmu    sync.Mutex // one frame per write, whole
	wbuf   []byte
	smu    sync.Mutex
	in     map[uint32]*floorStream // streams whose incoming direction is open
	nextID atomic.Uint32
	// onOpen handles an open frame (the agent), in a goroutine of its own.
	onOpen func(l *floorLink, id uint32, s *floorStream, target string)
}

// floorStream is a stream's incoming direction: the payloads of its data
// frames, closed by its close frame.
type floorStream struct {
	in chan []byte
}

func newFloorLink(c net.Conn, onOpen func(*floorLink, uint32, *floorStream, string)) *floorLink {
	return &floorLink{c: c, r: bufio.NewReaderSize(c, openFloorBuf+9), in: map[uint32]*floorStream{}, onOpen: onOpen}
}

// add registers stream id's incoming direction.
func (l *floorLink) add(id uint32) *floorStream {
	s := &floorStream{in: make(chan []byte, 16)}
	l.smu.Lock()
	l.in[id] = s
	l.smu.Unlock()
	return s
}

// send writes one frame.
func (l *floorLink) send(typ byte, id uint32, p []byte) error {
	l.wmu.Lock()
	defer l.wmu.Unlock()
	l.wbuf = append(l.wbuf[:0], typ, 0, 0, 0, 0, 0, 0, 0, 0)
	binary.BigEndian.PutUint32(l.wbuf[1:], id)
	binary.BigEndian.PutUint32(l.wbuf[5:], uint32(len(p)))
	l.wbuf = append(l.wbuf, p...)
	_, err := l.c.Write(l.wbuf)
	return err
}

// readLoop reads frames until the link ends, handing each stream its
// data in order.
func (l *floorLink) readLoop() {
	defer func() {
		// The link is gone: every stream's incoming direction ends, so
		// no relay waits for it.
		l.c.Close()
		l.smu.Lock()
		for id, s := range l.in {
			close(s.in)
			delete(l.in, id)
		}
		l.smu.Unlock()
	}()
	var hdr [9]byte
	for {
		if _, err := io.ReadFull(l.r, hdr[:]); err != nil {
			return
		}
		id := binary.BigEndian.Uint32(hdr[1:])
		p := make([]byte, binary.BigEndian.Uint32(hdr[5:]))
		if _, err := io.ReadFull(l.r, p); err != nil {
			return
		}
		switch hdr[0] {
		case floorOpen:
			if l.onOpen != nil {
				// Registered before the next frame is read: the
				// stream's data frames follow its open.
				go l.onOpen(l, id, l.add(id), string(p))
			}
		case floorData, floorClose:
			l.smu.Lock()
			s := l.in[id]
			if hdr[0] == floorClose {
				delete(l.in, id)
			}
			l.smu.Unlock()
			if s == nil {
				continue
			}
			if hdr[0] == floorData {
				s.in <- p
			} else {
				close(s.in)
			}
		}
	}
}

// relay moves stream id's bytes between the link and c (the server's
// client connection, or the agent's target connection) until both
// directions ended, then closes c.
func (l *floorLink) relay(id uint32, s *floorStream, c net.Conn) {
	defer c.Close()
	var wg sync.WaitGroup
	wg.Go(func() {
		// link → c; after a failed write the rest is drained, so the
		// link's reader never waits on this stream.
		ok := true
		for p := range s.in {
			if ok {
				if _, err := c.Write(p); err != nil {
					ok = false
				}
			}
		}
		if cw, isCW := c.(interface{ CloseWrite() error }); isCW && ok {
			_ = cw.CloseWrite()
		}
	})
	bp := openFloorBufs.Get().(*[]byte)
	buf := *bp
	for {
		n, err := c.Read(buf)
		if n > 0 {
			if l.send(floorData, id, buf[:n]) != nil {
				break
			}
		}
		if err != nil {
			break
		}
	}
	openFloorBufs.Put(bp)
	_ = l.send(floorClose, id, nil)
	wg.Wait()
}

// --- the record: each attempt on disk before its first byte ---

// floorRecorder appends one record per attempt to a file and makes it
// durable with group commit: the records that arrive while a sync runs
// are written and synced together by the next.
type floorRecorder struct {
	f    *os.File
	reqs chan chan error
}

// newFloorRecorder opens path for appending and starts its committer;
// with path "" it records nothing (add answers at once).
func newFloorRecorder(path string) (*floorRecorder, error) {
	if path == "" {
		return nil, nil
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return nil, err
	}
	r := &floorRecorder{f: f, reqs: make(chan chan error, 4096)}
	go r.commitLoop()
	return r, nil
}

// floorNoRecord is an answer that is already there: nothing to record.
var floorNoRecord = func() chan error { c := make(chan error, 1); c <- nil; close(c); return c }()

// add asks for one record; the channel answers once it is on disk.
func (r *floorRecorder) add() <-chan error {
	if r == nil {
		return floorNoRecord
	}
	c := make(chan error, 1)
	r.reqs <- c
	return c
}

// commitLoop writes and syncs the records asked for, in batches.
func (r *floorRecorder) commitLoop() {
	line := append(bytes.Repeat([]byte{'r'}, openFloorRecordSize-1), '\n')
	var buf []byte
	var batch []chan error
	for c := range r.reqs {
		batch = append(batch[:0], c)
	more:
		for {
			select {
			case c := <-r.reqs:
				batch = append(batch, c)
			default:
				break more
			}
		}
		buf = buf[:0]
		for range batch {
			buf = append(buf, line...)
		}
		_, err := r.f.Write(buf)
		if err == nil {
			// fsync, as Postern's audit file sink syncs its lines.
			err = r.f.Sync()
		}
		for _, c := range batch {
			c <- err
		}
	}
}
