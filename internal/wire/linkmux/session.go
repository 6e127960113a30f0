package linkmux

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/postern/postern/internal/util/bufpool"
	"github.com/postern/postern/internal/wire/tlsbatch"
)

// The link speaks yamux's protocol, version 0 (github.com/hashicorp/yamux,
// spec.md): a 12-byte header (version, type, flags, stream id, length),
// data frames, window updates (which also carry SYN, ACK, FIN and RST),
// pings and go-aways; every stream starts with a 256 KiB window. An agent
// or a server with upstream yamux therefore links with this code as it
// did with itself (TestInteropWithUpstream); nothing is negotiated.
//
// Why not yamux's own Session (it was used until this file): its Stream
// hands every frame to one send goroutine, which copies the body and wakes
// the writer when it was written (two wake-ups and a copy per frame, the
// largest cost of the link in the bytes path's profile); its receive loop
// holds the stream's lock while it reads a frame's body from the
// connection, so the tunnel's reader waits for the whole frame; and a
// stream can only be read by copying out of its buffer. Its API offers no
// way around any of the three, and smux (the other library measured in
// internal/bench/linkbench) has no per-stream flow control worth the name.
// Here a stream writes its frames itself, under the session's write lock
// (header and body in one system call beneath TLS, no copy); the receive
// loop reads a frame's body into pooled chunks without the stream's lock;
// and a reader may borrow the received bytes in place (Stream.Borrow).

const (
	protoVersion = 0
	headerLen    = 12

	typeData         = 0
	typeWindowUpdate = 1
	typePing         = 2
	typeGoAway       = 3

	flagSYN = 1
	flagACK = 2
	flagFIN = 4
	flagRST = 8

	// initialWindow is every stream's window before its first window
	// update (the protocol's constant).
	initialWindow = 256 << 10

	goAwayNormal   = 0
	goAwayProtocol = 1
	goAwayInternal = 2
)

// Errors of sessions and streams.
var (
	// ErrSessionShutdown: the link is closed.
	ErrSessionShutdown = errors.New("linkmux: session shutdown")
	// ErrStreamClosed: the stream was closed on this side.
	ErrStreamClosed = errors.New("linkmux: stream closed")
	// ErrConnectionReset: the peer reset the stream.
	ErrConnectionReset = errors.New("linkmux: stream reset by peer")
	// ErrRemoteGoAway: the peer refuses new streams.
	ErrRemoteGoAway = errors.New("linkmux: the peer is not accepting streams")
	// ErrProtocol wraps every malformed or unexpected frame from the peer.
	ErrProtocol = errors.New("linkmux: protocol error")
	// ErrKeepAliveTimeout: a keepalive ping was not answered in time.
	ErrKeepAliveTimeout = errors.New("linkmux: keepalive timeout")
	// ErrTimeout: a stream's deadline passed.
	ErrTimeout error = timeoutError{}
)

type timeoutError struct{}

func (timeoutError) Error() string   { return "linkmux: i/o deadline reached" }
func (timeoutError) Timeout() bool   { return true }
func (timeoutError) Temporary() bool { return true }

type header [headerLen]byte

func (h *header) encode(typ byte, flags uint16, id, length uint32) {
	h[0] = protoVersion
	h[1] = typ
	binary.BigEndian.PutUint16(h[2:], flags)
	binary.BigEndian.PutUint32(h[4:], id)
	binary.BigEndian.PutUint32(h[8:], length)
}

func (h *header) typ() byte        { return h[1] }
func (h *header) flags() uint16    { return binary.BigEndian.Uint16(h[2:]) }
func (h *header) streamID() uint32 { return binary.BigEndian.Uint32(h[4:]) }
func (h *header) length() uint32   { return binary.BigEndian.Uint32(h[8:]) }

// Session is one end of a multiplexed link.
type Session struct {
	conn  net.Conn
	batch *tlsbatch.Conn // beneath conn's TLS, or nil
	// rd is what the receive loop reads: the connection itself, with no
	// buffer of its own (crypto/tls keeps the record it decrypted, so a
	// header's read takes 12 bytes of it and a body's reads go straight
	// into the stream's chunks, with no copy through a bufio.Reader).
	rd io.Reader
	// raw is the socket beneath the link (beneath its TLS), or nil: the
	// receive loop writes a window update itself only when the socket's
	// send queue is empty (sendQueueEmpty).
	raw    syscall.RawConn
	window uint32        // each stream's receive window
	wtime  time.Duration // bound of a blocked write; keepalive answer
	open   time.Duration // bound of an unanswered open
	closeT time.Duration // bound of a half-closed stream's wait for FIN
	// flagD bounds how long a new stream's SYN or ACK waits for its
	// first frame (Config.FlagDelay).
	flagD time.Duration
	log   *slog.Logger
	serve func(net.Conn) // Config.Handle

	wmu  sync.Mutex          // serialises frames on conn
	hdr  [2 * headerLen]byte // the frame's header and a trailing window update's, under wmu
	wbuf []byte              // headers and small body, under wmu
	// wdlAt is when conn's write deadline was last moved, under wmu
	// (moveWriteDeadline).
	wdlAt time.Time

	mu           sync.Mutex
	streams      map[uint32]*Stream
	nextID       uint32
	pings        map[uint32]chan struct{}
	pingID       uint32
	remoteGoAway bool
	err          error // why the session ended

	// Window updates due on the receive loop (a direct reader took a
	// stream's bytes) that it could not write without waiting, which one
	// goroutine at a time writes (flushWindowUpdates): the receive loop
	// never waits on a write (updateWindowFromLoop).
	wuMu    sync.Mutex
	wuQ     []*Stream // streams with an update due, each once (Stream.wuQueued)
	wuSpare []*Stream // wuQ's other array, reused
	wuRun   bool      // flushWindowUpdates runs

	acceptCh  chan *Stream
	async     chan struct{} // sendAsync's writers
	done      chan struct{}
	closeOnce sync.Once
}

func newSession(conn net.Conn, cfg Config, client bool) *Session {
	s := &Session{
		conn:     conn,
		batch:    tlsbatch.Of(conn),
		rd:       conn,
		window:   cfg.StreamWindow,
		wtime:    cfg.WriteTimeout,
		open:     10 * time.Second,
		closeT:   30 * time.Second,
		flagD:    cfg.FlagDelay,
		serve:    cfg.Handle,
		log:      cfg.Logger,
		streams:  map[uint32]*Stream{},
		pings:    map[uint32]chan struct{}{},
		acceptCh: make(chan *Stream, 1024),
		async:    make(chan struct{}, maxAsync),
		done:     make(chan struct{}),
		wbuf:     make([]byte, 0, 2*headerLen+coalesceMax),
	}
	var beneath net.Conn = conn
	if s.batch != nil {
		beneath = s.batch.NetConn()
	}
	if sc, ok := beneath.(syscall.Conn); ok {
		if rc, err := sc.SyscallConn(); err == nil {
			s.raw = rc
		}
	}
	if s.flagD <= 0 {
		s.flagD = DefaultFlagDelay
	}
	if s.window < initialWindow {
		s.window = DefaultStreamWindow
	}
	if s.wtime <= 0 {
		s.wtime = DefaultWriteTimeout
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if client {
		s.nextID = 1
	} else {
		s.nextID = 2
	}
	keep := cfg.KeepAliveInterval
	if keep <= 0 {
		keep = DefaultKeepAlive
	}
	go s.recvLoop()
	go s.keepalive(keep)
	return s
}

// writeFrame writes one frame under the write lock, with the write
// timeout as the connection's deadline. A body larger than one TLS record
// leaves with its header in one batch (one system call, no copy); a
// smaller one is copied behind the header into one write. A failed write
// ends the session: a half-written frame loses the link's framing.
func (s *Session) writeFrame(typ byte, flags uint16, id, length uint32, body []byte) error {
	return s.writeFrames(typ, flags, id, length, body, 0)
}

// writeFrames is writeFrame with, when window is not zero, a window
// update of the same stream behind the frame, in the same write: a
// stream's first data frame (with its SYN or ACK) and the window above
// the protocol's initial one leave in one TLS record.
func (s *Session) writeFrames(typ byte, flags uint16, id, length uint32, body []byte, window uint32) error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	return s.writeFramesLocked(typ, flags, id, length, body, window)
}

// moveWriteDeadline keeps the link's write deadline between nine tenths
// of the write timeout and the whole of it ahead of a frame's write,
// moving it at most once per tenth of the timeout rather than before
// every frame: each move re-arms the runtime's timer of the socket, and a
// timer re-armed while no thread waits in the network poller has the
// runtime wake an idle thread to look at it (wakeNetPoller), a thread
// wake-up and two context switches for a deadline seconds away — about
// one per two tunnel opens on the agent. Called with wmu held.
func (s *Session) moveWriteDeadline() {
	now := time.Now()
	if now.Sub(s.wdlAt) < s.wtime/10 {
		return
	}
	s.wdlAt = now
	_ = s.conn.SetWriteDeadline(now.Add(s.wtime))
}

// writeFramesLocked is writeFrames with the write lock held.
func (s *Session) writeFramesLocked(typ byte, flags uint16, id, length uint32, body []byte, window uint32) error {
	h := (*header)(s.hdr[:headerLen])
	h.encode(typ, flags, id, length)
	var trail []byte
	if window != 0 {
		(*header)(s.hdr[headerLen:]).encode(typeWindowUpdate, 0, id, window)
		trail = s.hdr[headerLen:]
	}
	select {
	case <-s.done:
		return ErrSessionShutdown
	default:
	}
	s.moveWriteDeadline()
	var err error
	switch {
	case len(body) <= coalesceMax:
		s.wbuf = append(append(append(s.wbuf[:0], h[:]...), body...), trail...)
		_, err = s.conn.Write(s.wbuf)
	case s.batch != nil:
		err = s.batch.Batch(func() error {
			if _, err := s.conn.Write(h[:]); err != nil {
				return err
			}
			if _, err := s.conn.Write(body); err != nil || trail == nil {
				return err
			}
			_, err := s.conn.Write(trail)
			return err
		})
	default:
		if _, err = s.conn.Write(h[:]); err == nil {
			if _, err = s.conn.Write(body); err == nil && trail != nil {
				_, err = s.conn.Write(trail)
			}
		}
	}
	if err != nil {
		err = fmt.Errorf("linkmux: write: %w", err)
		go s.closeWith(err)
		return err
	}
	return nil
}

// sendAsync writes a control frame from a goroutine of its own: the
// receive loop never waits for the write lock (a writer blocked on a full
// connection would otherwise stop this side from reading, and both sides
// could wait for each other). At most maxAsync wait at once: beyond that
// the connection is not taking writes (it ends at the write timeout) and
// the frame is dropped, so that a peer's flood of pings cannot pile up
// goroutines.
func (s *Session) sendAsync(typ byte, flags uint16, id, length uint32) {
	select {
	case s.async <- struct{}{}:
	default:
		return
	}
	go func() {
		defer func() { <-s.async }()
		_ = s.writeFrame(typ, flags, id, length, nil)
	}()
}

// maxAsync bounds the control frames waiting to be written (sendAsync).
const maxAsync = 64

// Open opens a stream.
func (s *Session) openStream() (*Stream, error) {
	s.mu.Lock()
	if s.err != nil {
		s.mu.Unlock()
		return nil, ErrSessionShutdown
	}
	if s.remoteGoAway {
		s.mu.Unlock()
		return nil, ErrRemoteGoAway
	}
	id := s.nextID
	if id >= 1<<32-2 {
		s.mu.Unlock()
		return nil, errors.New("linkmux: stream ids exhausted")
	}
	s.nextID += 2
	st := newStream(s, id, stateSYNSent)
	st.pend = flagSYN
	// The SYN, with the window above the protocol's initial one, rides
	// with the stream's first frame, or leaves alone after flagD
	// (openCheck, which then waits for the peer's ACK).
	st.mu.Lock()
	st.openTimer = time.AfterFunc(s.flagD, st.openCheck)
	st.mu.Unlock()
	s.streams[id] = st
	s.mu.Unlock()
	return st, nil
}

// openCheck runs on an opened stream's timer: it sends a SYN that no
// frame carried yet, then ends the link if the peer does not acknowledge
// the stream within the open timeout.
func (st *Stream) openCheck() {
	st.mu.Lock()
	switch {
	case st.pend != 0:
		st.mu.Unlock()
		_ = st.flushFlags()
		return
	case st.state == stateSYNSent:
		if left := st.s.open - time.Since(st.synAt); left > 0 {
			st.openTimer.Reset(left) // the SYN left after the timer was set
			st.mu.Unlock()
			return
		}
		st.mu.Unlock()
		st.s.log.Warn("link: the peer did not acknowledge a new stream; closing the link", "stream", st.id)
		st.s.closeWith(fmt.Errorf("linkmux: stream %d not acknowledged within %v", st.id, st.s.open))
		return
	}
	st.mu.Unlock()
}

// acknowledge makes the stream's ACK due: its first frame carries it, or
// it leaves alone after flagD. A stream the peer already reset (before
// Accept took it) is owed nothing.
func (st *Stream) acknowledge() {
	st.mu.Lock()
	if st.state == stateReset || st.state == stateClosed {
		st.mu.Unlock()
		return
	}
	st.pend = flagACK
	st.openTimer = time.AfterFunc(st.s.flagD, func() { _ = st.flushFlags() })
	st.mu.Unlock()
}

// accept waits for the peer's next stream. Its ACK rides with the
// stream's first frame, or leaves alone after flagD: an opener never
// waits on this side's work (a target's dial) to learn of the accept.
func (s *Session) accept() (*Stream, error) {
	select {
	case st := <-s.acceptCh:
		st.acknowledge()
		return st, nil
	case <-s.done:
		return nil, ErrSessionShutdown
	}
}

func (s *Session) forget(id uint32) {
	s.mu.Lock()
	delete(s.streams, id)
	s.mu.Unlock()
}

// closeWith ends the session: the connection closes, every stream ends
// (buffered bytes stay readable), waiting calls return.
func (s *Session) closeWith(err error) {
	s.closeOnce.Do(func() {
		s.mu.Lock()
		if s.err == nil {
			s.err = err
		}
		streams := make([]*Stream, 0, len(s.streams))
		for _, st := range s.streams {
			streams = append(streams, st)
		}
		s.streams = map[uint32]*Stream{}
		s.mu.Unlock()
		close(s.done)
		s.conn.Close()
		for _, st := range streams {
			st.forceClose()
		}
	})
}

// numStreams is the number of open streams.
func (s *Session) numStreams() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.streams)
}

// ping measures a round trip; it fails after the write timeout.
func (s *Session) ping() (time.Duration, error) {
	ch := make(chan struct{})
	s.mu.Lock()
	if s.err != nil {
		s.mu.Unlock()
		return 0, ErrSessionShutdown
	}
	id := s.pingID
	s.pingID++
	s.pings[id] = ch
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.pings, id)
		s.mu.Unlock()
	}()
	start := time.Now()
	if err := s.writeFrame(typePing, flagSYN, 0, id, nil); err != nil {
		return 0, err
	}
	t := time.NewTimer(s.wtime)
	defer t.Stop()
	select {
	case <-ch:
		return time.Since(start), nil
	case <-t.C:
		return 0, ErrKeepAliveTimeout
	case <-s.done:
		return 0, ErrSessionShutdown
	}
}

func (s *Session) keepalive(every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			if _, err := s.ping(); err != nil {
				if errors.Is(err, ErrKeepAliveTimeout) {
					s.log.Warn("link: keepalive unanswered; closing the link")
					s.closeWith(err)
				}
				return
			}
		case <-s.done:
			return
		}
	}
}

// recvLoop reads frames until the connection ends or the peer breaks the
// protocol (then it sends a go-away first).
func (s *Session) recvLoop() {
	var h header
	for {
		if _, err := io.ReadFull(s.rd, h[:]); err != nil {
			s.closeWith(fmt.Errorf("linkmux: read: %w", err))
			return
		}
		if err := s.handle(&h); err != nil {
			if errors.Is(err, ErrProtocol) {
				s.log.Warn("link: protocol error; closing the link", "error", err)
				_ = s.writeFrame(typeGoAway, 0, 0, goAwayProtocol, nil)
			}
			s.closeWith(err)
			return
		}
	}
}

func (s *Session) handle(h *header) error {
	if h[0] != protoVersion {
		return fmt.Errorf("%w: version %d", ErrProtocol, h[0])
	}
	switch h.typ() {
	case typeData, typeWindowUpdate:
		return s.handleStream(h)
	case typePing:
		if h.flags()&flagSYN != 0 {
			s.sendAsync(typePing, flagACK, 0, h.length())
			return nil
		}
		s.mu.Lock()
		if ch, ok := s.pings[h.length()]; ok {
			close(ch)
			delete(s.pings, h.length())
		}
		s.mu.Unlock()
		return nil
	case typeGoAway:
		switch h.length() {
		case goAwayNormal:
			s.mu.Lock()
			s.remoteGoAway = true
			s.mu.Unlock()
			return nil
		case goAwayProtocol:
			return errors.New("linkmux: the peer reported a protocol error")
		default:
			return errors.New("linkmux: the peer reported an internal error")
		}
	}
	return fmt.Errorf("%w: frame type %d", ErrProtocol, h.typ())
}

func (s *Session) handleStream(h *header) error {
	id, flags := h.streamID(), h.flags()
	var handOn *Stream // a stream for Config.Handle, once its frame was read
	if flags&flagSYN != 0 {
		var err error
		if handOn, err = s.incoming(id); err != nil {
			return err
		}
	}
	s.mu.Lock()
	st := s.streams[id]
	s.mu.Unlock()
	err := s.streamFrame(h, st)
	if handOn != nil && err == nil {
		// Started once the frame was read: the SYN's first bytes (a
		// tunnel's dial request) are there when the handler reads.
		go s.serve(handOn)
	}
	return err
}

// streamFrame applies a data frame or window update to its stream (nil:
// one already gone).
func (s *Session) streamFrame(h *header, st *Stream) error {
	flags := h.flags()
	if st == nil {
		// A stream already gone: drop its bytes (the peer learns from
		// the FIN or RST it was sent).
		if h.typ() == typeData && h.length() > 0 {
			if err := s.discard(int(h.length())); err != nil {
				return fmt.Errorf("linkmux: read: %w", err)
			}
		}
		return nil
	}
	if h.typ() == typeWindowUpdate {
		return st.incrSendWindow(flags, h.length())
	}
	return st.readData(flags, h.length())
}

// discard reads and drops n bytes of a frame's body.
func (s *Session) discard(n int) error {
	_, err := io.CopyN(io.Discard, s.rd, int64(n))
	return err
}

// incoming registers a stream the peer opened and queues it for accept
// (a full backlog refuses it with a RST), or returns it for Config.Handle.
func (s *Session) incoming(id uint32) (*Stream, error) {
	s.mu.Lock()
	if id == 0 || id%2 == s.nextID%2 {
		// One of this side's ids: the stream this side opens with it
		// would take the peer's place in the table (and lose it again
		// when the peer's stream leaves).
		s.mu.Unlock()
		return nil, fmt.Errorf("%w: the peer opened stream %d, an id of this side's", ErrProtocol, id)
	}
	if _, dup := s.streams[id]; dup {
		s.mu.Unlock()
		return nil, fmt.Errorf("%w: stream %d opened twice", ErrProtocol, id)
	}
	if s.err != nil {
		s.mu.Unlock()
		return nil, nil
	}
	st := newStream(s, id, stateSYNReceived)
	if s.serve != nil {
		s.streams[id] = st
		s.mu.Unlock()
		st.acknowledge()
		return st, nil
	}
	select {
	case s.acceptCh <- st:
		s.streams[id] = st
		s.mu.Unlock()
	default:
		s.mu.Unlock()
		s.log.Warn("link: too many streams waiting to be accepted; refusing one", "stream", id)
		s.sendAsync(typeWindowUpdate, flagRST, id, 0)
	}
	return nil, nil
}

// stream states (yamux's).
const (
	stateInit = iota
	stateSYNSent
	stateSYNReceived
	stateEstablished
	stateLocalClose
	stateRemoteClose
	stateClosed
	stateReset
)

// chunk is a run of received bytes: (*bp)[r:w].
type chunk struct {
	bp   *[]byte
	r, w int
}

// Stream is one tunnel's stream on the link. Reads, Borrow and Consume
// are for one goroutine; writes may come from several.
type Stream struct {
	s  *Session
	id uint32

	mu         sync.Mutex
	state      int
	rq         []chunk          // received, unread; all but the last are full
	buffered   int              // bytes in rq
	inflight   int              // bytes of the frame being read, not yet in rq
	filling    bool             // the receive loop is reading into rq's last chunk
	lent       bool             // Borrow handed out part of rq[0]
	lentN      int              // how many bytes it handed out
	direct     func([]byte) int // SetDirect's taker, or nil
	delivering bool             // the receive loop is handing rq[0] to direct
	readClosed bool             // Close was called: no more reads
	draining   bool             // closed with the peer's bytes unread: later ones are dropped and credited (Close)
	recvWindow uint32           // what the peer may still send
	sendWindow uint32           // what this side may still send
	pend       uint16           // the SYN or ACK the stream's first frame carries, until it left
	openTimer  *time.Timer      // the SYN or ACK waiting for a first frame; the peer's ACK
	synAt      time.Time        // when the SYN left
	closeTimer *time.Timer
	rdl, wdl   time.Time

	recvNotify chan struct{}
	sendNotify chan struct{}
	sendMu     sync.Mutex // one Write at a time

	wuQueued bool // in s.wuQ; under s.wuMu
}

func newStream(s *Session, id uint32, state int) *Stream {
	return &Stream{
		s: s, id: id, state: state,
		recvWindow: initialWindow, sendWindow: initialWindow,
		recvNotify: make(chan struct{}, 1),
		sendNotify: make(chan struct{}, 1),
	}
}

func notify(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// sendFlags returns the SYN or ACK the stream's first frame carries.
// Called with st.mu held.
func (st *Stream) sendFlags() uint16 {
	f := st.pend
	st.pend = 0
	switch f {
	case flagSYN:
		st.synAt = time.Now()
		if st.openTimer != nil && st.state == stateSYNSent {
			st.openTimer.Reset(st.s.open) // now the wait for the ACK
		}
	case flagACK:
		if st.state == stateSYNReceived {
			st.state = stateEstablished
		}
		if st.openTimer != nil {
			st.openTimer.Stop()
		}
	}
	return f
}

// windowDelta is how much more the peer may be told it may send. Called
// with st.mu held.
func (st *Stream) windowDelta() uint32 {
	return (st.s.window - uint32(st.buffered+st.inflight)) - st.recvWindow
}

// sendWindowUpdate tells the peer how much more it may send, once half the
// window was read. While the stream's SYN or ACK waits for its first
// frame, reads send nothing until the peer used half the protocol's
// initial window: the first frame carries the update.
func (st *Stream) sendWindowUpdate() error {
	// A read that sends nothing takes no write lock (lockForFlags takes
	// it while a SYN or ACK is due): it would wait behind any frame being
	// written, to the write timeout on a stalled link.
	st.mu.Lock()
	due := st.windowUpdateWantedLocked()
	st.mu.Unlock()
	if !due {
		return nil
	}
	held := st.lockForFlags()
	delta, flags, ok := st.windowUpdateDueLocked()
	st.mu.Unlock()
	if held {
		defer st.s.wmu.Unlock()
	}
	if !ok {
		return nil
	}
	return st.s.writeHeld(held, typeWindowUpdate, flags, st.id, delta, nil, 0)
}

// writeHeld is writeFramesLocked when the caller holds the write lock
// already (held: lockForFlags took it), writeFrames otherwise.
func (s *Session) writeHeld(held bool, typ byte, flags uint16, id, length uint32, body []byte, window uint32) error {
	if held {
		return s.writeFramesLocked(typ, flags, id, length, body, window)
	}
	return s.writeFrames(typ, flags, id, length, body, window)
}

// lockForFlags locks st.mu and, while the stream's SYN or ACK is still
// due, first the session's write lock (wmu before st.mu: the order the
// receive loop's window updates take them in); it reports whether it
// holds wmu, which the caller then releases after its frame was written.
//
// Whoever takes the pending flags (sendFlags) must write the frame that
// carries them before any other frame of the stream leaves: a peer drops
// a frame of a stream it has not seen opened (the SYN) as one already
// gone. The flags used to be taken under st.mu alone and the frame
// written after, under wmu: the opener's flag timer (flushFlags, after
// FlagDelay) and the stream's first Write could both run, the timer take
// the SYN, and the Write's data frame, which no longer carried it, reach
// wmu first, so that the peer dropped the stream's first bytes (a
// tunnel's dial request). TestInteropWithUpstream hung about once in 100
// runs under -race that way. Holding wmu from the take to the write
// orders every later frame (which waits for wmu) behind the flags.
func (st *Stream) lockForFlags() bool {
	st.mu.Lock()
	if st.pend == 0 {
		return false
	}
	st.mu.Unlock()
	st.s.wmu.Lock()
	st.mu.Lock()
	return true
}

// windowUpdateDueLocked returns the window update (and the SYN or ACK
// riding with it) to send now, if one is due, and counts it as sent.
// Called with st.mu held, and with the session's write lock while a SYN
// or ACK is due (lockForFlags).
func (st *Stream) windowUpdateDueLocked() (delta uint32, flags uint16, ok bool) {
	if !st.windowUpdateWantedLocked() {
		return 0, 0, false
	}
	delta = st.windowDelta()
	flags = st.sendFlags()
	st.recvWindow += delta
	return delta, flags, true
}

// flushFlags sends the stream's SYN or ACK (and its window) alone, when
// no frame carried it within flagD.
func (st *Stream) flushFlags() error {
	if !st.lockForFlags() {
		st.mu.Unlock()
		return nil // sent already, with a frame
	}
	defer st.s.wmu.Unlock()
	if st.pend == 0 {
		st.mu.Unlock()
		return nil
	}
	delta := st.windowDelta()
	flags := st.sendFlags()
	st.recvWindow += delta
	st.mu.Unlock()
	if h := testHookFlagsTaken.Load(); h != nil {
		(*h)(st)
	}
	return st.s.writeFramesLocked(typeWindowUpdate, flags, st.id, delta, nil, 0)
}

// testHookFlagsTaken, set by tests only, runs in flushFlags between the
// take of the flags and the write of their frame.
var testHookFlagsTaken atomic.Pointer[func(*Stream)]

// processFlags applies a received frame's flags. Called with st.mu held;
// it reports whether the stream is gone from the session.
func (st *Stream) processFlags(flags uint16) (bool, error) {
	gone := false
	if flags&flagACK != 0 && st.state == stateSYNSent {
		st.state = stateEstablished
		if st.openTimer != nil {
			st.openTimer.Stop()
		}
	}
	if flags&flagFIN != 0 {
		switch st.state {
		case stateInit, stateSYNSent, stateSYNReceived, stateEstablished:
			st.state = stateRemoteClose
		case stateLocalClose:
			st.state = stateClosed
			gone = true
		case stateReset:
			// The peer's FIN crossed this side's reset (Reset, the close
			// timeout), which took the stream away already: no error.
		default:
			return false, fmt.Errorf("%w: FIN on stream %d in state %d", ErrProtocol, st.id, st.state)
		}
		notify(st.recvNotify)
		notify(st.sendNotify)
	}
	if flags&flagRST != 0 {
		st.state = stateReset
		gone = true
		notify(st.recvNotify)
		notify(st.sendNotify)
	}
	if gone {
		st.stopTimers()
	}
	return gone, nil
}

func (st *Stream) stopTimers() {
	if st.openTimer != nil {
		st.openTimer.Stop()
	}
	if st.closeTimer != nil {
		st.closeTimer.Stop()
	}
}

func (st *Stream) incrSendWindow(flags uint16, n uint32) error {
	st.mu.Lock()
	gone, err := st.processFlags(flags)
	if err == nil && st.sendWindow+n < st.sendWindow {
		// More than 4 GiB outstanding: a peer's window is at most that
		// (yamux's is a uint32); wrapped, this side would stall.
		err = fmt.Errorf("%w: a window update on stream %d overflows its window", ErrProtocol, st.id)
	}
	st.sendWindow += n
	st.mu.Unlock()
	if gone {
		st.s.forget(st.id)
	}
	notify(st.sendNotify)
	return err
}

// readData reads a data frame's body into the stream's chunks: first into
// the room left in the last chunk, then into new pooled ones, each read
// made without the stream's lock so that the reader goes on meanwhile.
//
// A FIN or RST on the frame applies once its bytes are in (and were
// offered to the direct reader): a reader gets the bytes, then io.EOF or
// ErrConnectionReset. (Upstream yamux puts neither on a data frame; other
// implementations of the protocol may.) Bytes nobody will read are
// dropped, and the flag then applies at once.
func (st *Stream) readData(flags uint16, length uint32) error {
	end := flags & (flagFIN | flagRST)
	st.mu.Lock()
	gone, err := st.processFlags(flags &^ end)
	if err == nil && (length == 0 || st.readClosed || st.state == stateReset) {
		gone, err = st.processFlags(end)
		end = 0
	}
	if err != nil {
		st.mu.Unlock()
		return err
	}
	if length == 0 {
		st.mu.Unlock()
		if gone {
			st.s.forget(st.id)
		}
		return nil
	}
	if length > st.recvWindow {
		st.mu.Unlock()
		return fmt.Errorf("%w: stream %d sent %d bytes into a window of %d", ErrProtocol, st.id, length, st.recvWindow)
	}
	st.recvWindow -= length
	if st.readClosed || st.state == stateReset {
		// Nobody will read them: drop the bytes. A stream closed here
		// while the peer still sends is reset, so its writer stops;
		// one closed with the peer's bytes unread drains instead (see
		// Close): their window goes back to the peer at once, so its
		// writer goes on until it sees the FIN, and no reset overtakes
		// the bytes this side sent before its close.
		drain := st.readClosed && !gone && st.state == stateLocalClose && st.draining
		reset := st.readClosed && !gone && st.state != stateReset && !drain
		if reset {
			st.state = stateReset
			st.stopTimers()
		}
		st.mu.Unlock()
		if reset || gone { // gone: this frame's RST or FIN ended it
			st.s.forget(st.id)
		}
		if reset {
			st.s.sendAsync(typeWindowUpdate, flagRST, st.id, 0)
		}
		if err := st.s.discard(int(length)); err != nil {
			return fmt.Errorf("linkmux: read: %w", err)
		}
		if drain {
			st.updateWindowFromLoop() // never waits on a write, never drops the update
		}
		return nil
	}
	prev := st.buffered // bytes still waiting for the reader before this frame
	remain := int(length)
	st.inflight = remain
	for remain > 0 {
		last := len(st.rq) - 1
		if last < 0 || newChunk(st.rq[last], remain) {
			st.rq = append(st.rq, chunk{bp: bufpool.GetFor(remain)})
			last++
		}
		c := st.rq[last]
		buf := (*c.bp)[c.w:min(len(*c.bp), c.w+remain)]
		st.filling = true
		st.mu.Unlock()
		n, err := io.ReadFull(st.s.rd, buf)
		st.mu.Lock()
		st.filling = false
		// The reader never removes the last chunk while it is filled.
		st.rq[len(st.rq)-1].w += n
		st.buffered += n
		remain -= n
		st.inflight = remain
		if err != nil {
			st.inflight = 0
			st.mu.Unlock()
			return fmt.Errorf("linkmux: read: %w", err)
		}
		if st.readClosed && remain > 0 {
			// Closed meanwhile (Close left the chunk being filled):
			// drop the rest.
			st.inflight = 0
			st.releaseLocked()
			gone, err = st.endLocked(end)
			st.mu.Unlock()
			if gone {
				st.s.forget(st.id)
			}
			if err != nil {
				return err
			}
			if err := st.s.discard(remain); err != nil {
				return fmt.Errorf("linkmux: read: %w", err)
			}
			return nil
		}
		if st.readClosed {
			st.releaseLocked()
		}
	}
	wake, took := true, false
	if st.direct != nil && prev == 0 && !st.lent && !st.readClosed && st.state != stateReset {
		took = st.deliverLocked()
		// Wake the reader for the bytes left, or for an end it may have
		// seen (and waited past) while the bytes were being delivered.
		wake = st.buffered > 0 || st.state >= stateRemoteClose
	}
	if end != 0 {
		// The frame's FIN or RST, now that its bytes are in (it wakes
		// the reader itself).
		gone, err = st.endLocked(end)
	}
	st.mu.Unlock()
	if gone {
		st.s.forget(st.id)
	}
	if err != nil {
		return err
	}
	if took {
		st.updateWindowFromLoop()
	}
	if wake {
		notify(st.recvNotify)
	}
	if h := testHookData.Load(); h != nil {
		(*h)(st)
	}
	return nil
}

// endLocked applies a data frame's FIN or RST (end) once the frame's body
// was read, unless the session ended meanwhile (its streams are closed
// already, and a FIN would then look like a protocol error). Called with
// st.mu held.
func (st *Stream) endLocked(end uint16) (gone bool, err error) {
	if end == 0 || st.isShutdown() {
		return false, nil
	}
	return st.processFlags(end)
}

// SetDirect makes take the stream's direct reader (nil: none): the link's
// receive loop hands it each data frame's bytes, in place, as soon as
// they are in, whenever no bytes received earlier still wait for the
// stream's reader and no borrow is out. take must not block (it runs on
// the receive loop, which every stream of the link waits for): it uses
// what it can at once and returns how many bytes, from the front, it
// took. The bytes it leaves wait for Read or Borrow, in order, as do all
// that arrive after them until the reader has taken every one; so take
// and the reader see one sequence of bytes, each byte once, and never run
// at the same time (Read and Borrow wait while take runs). The peer's
// window reopens for the bytes take took as for those read.
//
// This saves the stream's reading goroutine a wake-up per frame (and the
// runtime a thread woken for it): a tunnel's bytes go from the link to
// their destination's socket in the receive loop whenever that socket
// has room.
func (st *Stream) SetDirect(take func(p []byte) int) {
	st.mu.Lock()
	st.direct = take
	st.mu.Unlock()
}

// deliverLocked hands the received bytes, from the front and a chunk at
// a time, to the direct reader until it leaves some or none are left,
// and reports whether it took any. Called by the receive loop with st.mu
// held (and the frame's body read); returns with it held.
func (st *Stream) deliverLocked() (took bool) {
	take := st.direct
	st.delivering = true
	for st.buffered > 0 {
		c := st.rq[0]
		p := (*c.bp)[c.r:c.w]
		st.mu.Unlock()
		n := take(p)
		st.mu.Lock()
		if st.readClosed {
			break // Close left rq[0] to us; released below
		}
		n = max(0, min(n, len(p)))
		if n > 0 {
			st.consumeLocked(n)
			took = true
		}
		if n < len(p) {
			break
		}
	}
	st.delivering = false
	if st.readClosed {
		st.releaseLocked()
	}
	return took
}

// updateWindowFromLoop is updateWindow for the receive loop, which never
// waits on a write. When the link's write lock is free and its socket's
// send queue is empty (nothing sent is still unacknowledged), the 12
// bytes go into the socket's send buffer at once, whatever the peer
// does, and the receive loop writes them itself: the common case (a
// tunnel's bulk bytes flow the other way, the window updates are all this
// side sends), with no goroutine. Otherwise the stream joins the
// session's queue of due updates (once: a stream already queued has its
// later reads merged into the one update, as window deltas add up), and
// one goroutine per session at a time writes the queue
// (flushWindowUpdates). Nothing is dropped: a queued update's delta is
// computed when it is written, so it counts every byte taken until then,
// and a stream whose update is due again after that joins the queue
// again.
//
// Why not write at once whenever the write lock is free (as 5978dfb did):
// the link's send buffer can then be full (a tunnel's writer that
// finished a write which filled it), and the write waits for the peer to
// read. If the peer's receive loop waited likewise on a write to this
// side (this package on both ends, a direct reader on each), neither
// would read again and the link would end at the write timeout. (The
// server has no direct reader today, so its receive loop never waits on
// a write and the agent's write always ended; the hazard was the
// package's, not yet the product's.) TestWindowUpdateNeverStallsTheReceiveLoop
// holds the receive loop to this with a link whose writes wait;
// TestBulkBothWaysOnSmallBuffers runs bulk both ways over small socket
// buffers, where the send queue is seldom empty.
func (st *Stream) updateWindowFromLoop() {
	st.mu.Lock()
	due := st.windowUpdateWantedLocked()
	st.mu.Unlock()
	if !due {
		return
	}
	s := st.s
	if s.raw != nil && s.wmu.TryLock() {
		if sendQueueEmpty(s.raw) {
			if delta, flags, ok := st.queuedWindowUpdate(); ok {
				_ = s.writeFramesLocked(typeWindowUpdate, flags, st.id, delta, nil, 0)
			}
			s.wmu.Unlock()
			return
		}
		s.wmu.Unlock()
	}
	s.wuMu.Lock()
	if !st.wuQueued {
		st.wuQueued = true
		s.wuQ = append(s.wuQ, st)
	}
	start := !s.wuRun
	s.wuRun = true
	s.wuMu.Unlock()
	if start {
		go s.flushWindowUpdates()
	}
}

// windowUpdateWantedLocked reports whether a window update is due (the
// one windowUpdateDueLocked takes), changing nothing: while the stream's
// SYN or ACK waits, once the peer used half the protocol's initial
// window; after, once half the stream's window can be given back. Called
// with st.mu held.
func (st *Stream) windowUpdateWantedLocked() bool {
	if st.draining {
		// Closed with bytes unread: every dropped byte goes back at
		// once (readData), whatever the threshold.
		return st.recvWindow < st.s.window
	}
	if st.pend != 0 {
		return st.recvWindow < initialWindow/2
	}
	return st.windowDelta() >= st.s.window/2
}

// queuedWindowUpdate is the window update the receive loop found due,
// unless the stream was closed or reset meanwhile (a peer would get an
// update for a stream it no longer knows), counted as sent.
func (st *Stream) queuedWindowUpdate() (delta uint32, flags uint16, ok bool) {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.readClosed && !st.draining || st.state == stateReset || st.state == stateClosed {
		return 0, 0, false
	}
	return st.windowUpdateDueLocked()
}

// flushWindowUpdates writes the window updates queued by the receive
// loop, until none is left. One runs per session at a time (wuRun).
func (s *Session) flushWindowUpdates() {
	for {
		s.wuMu.Lock()
		q := s.wuQ
		if len(q) == 0 {
			s.wuRun = false
			s.wuMu.Unlock()
			return
		}
		s.wuQ = s.wuSpare[:0]
		for _, st := range q {
			st.wuQueued = false // due again from now on: queued again
		}
		s.wuMu.Unlock()
		for _, st := range q {
			// Taken and written under the write lock: an update may
			// carry the stream's SYN or ACK (lockForFlags).
			s.wmu.Lock()
			if delta, flags, ok := st.queuedWindowUpdate(); ok {
				// A failed write ends the session (writeFramesLocked);
				// the queue then drains without writing.
				_ = s.writeFramesLocked(typeWindowUpdate, flags, st.id, delta, nil, 0)
			}
			s.wmu.Unlock()
		}
		clear(q)
		s.wuMu.Lock()
		s.wuSpare = q[:0]
		s.wuMu.Unlock()
	}
}

// testHookData, set by tests only, runs after each data frame was
// buffered.
var testHookData atomic.Pointer[func(*Stream)]

// newChunk reports whether n more bytes go into a new chunk rather than
// the room left in c: when c is full, or nearly full (7/8) and they do not
// fit there, so that a bulk frame lands whole in a chunk of its own (one
// borrow, one write of it onward, not two) while the room left unused
// stays below an eighth of each chunk (a stream's chunks hold at most
// 8/7 of its window, plus one chunk).
func newChunk(c chunk, n int) bool {
	room := len(*c.bp) - c.w
	return room == 0 || room < n && room < len(*c.bp)/8
}

// releaseLocked returns the received chunks to the pool, except one lent
// out or being filled. Called with st.mu held.
func (st *Stream) releaseLocked() {
	keep := st.rq[:0]
	for i, c := range st.rq {
		if i == 0 && (st.lent || st.delivering) || i == len(st.rq)-1 && st.filling {
			c.r = c.w
			keep = append(keep, c)
			continue
		}
		bufpool.Put(c.bp)
	}
	for i := len(keep); i < len(st.rq); i++ {
		st.rq[i] = chunk{}
	}
	st.rq = keep
	st.buffered = 0
}

// forceClose ends the stream with its session: waiting calls return; the
// bytes already received stay readable.
func (st *Stream) forceClose() {
	st.mu.Lock()
	if st.state != stateReset {
		st.state = stateClosed
	}
	st.stopTimers()
	st.mu.Unlock()
	notify(st.recvNotify)
	notify(st.sendNotify)
}

// wait blocks until ch is notified, the session ends or the deadline
// passes.
func (st *Stream) wait(ch chan struct{}, deadline time.Time) error {
	var timeout <-chan time.Time
	if !deadline.IsZero() {
		d := time.Until(deadline)
		if d <= 0 {
			return ErrTimeout
		}
		t := time.NewTimer(d)
		defer t.Stop()
		timeout = t.C
	}
	select {
	case <-ch:
	case <-st.s.done:
		// Let the state say what ended (forceClose ran or runs now).
		st.forceClose()
	case <-timeout:
		return ErrTimeout
	}
	return nil
}

// readable waits until bytes are buffered and returns nil, or returns
// why none will come. Called with st.mu held; returns with it held.
func (st *Stream) readable() error {
	for {
		if st.readClosed {
			return ErrStreamClosed
		}
		switch {
		case st.delivering:
			// The receive loop is handing bytes to the direct reader:
			// wait for what it leaves (it wakes this reader then).
		case st.buffered > 0:
			return nil
		case st.state == stateRemoteClose || st.state == stateClosed:
			return io.EOF
		case st.state == stateReset:
			return ErrConnectionReset
		}
		dl := st.rdl
		st.mu.Unlock()
		err := st.wait(st.recvNotify, dl)
		st.mu.Lock()
		if err != nil {
			return err
		}
	}
}

// consumeLocked drops n bytes from the front of rq, returning drained
// chunks to the pool (the last one only while it is not being filled).
func (st *Stream) consumeLocked(n int) {
	st.buffered -= n
	for n > 0 {
		c := &st.rq[0]
		k := min(n, c.w-c.r)
		c.r += k
		n -= k
		if c.r == c.w && (len(st.rq) > 1 || !st.filling) {
			bufpool.Put(c.bp)
			st.rq[0] = chunk{}
			st.rq = st.rq[1:]
		}
	}
	if len(st.rq) == 0 {
		st.rq = nil
	}
}

// Read copies received bytes into b.
func (st *Stream) Read(b []byte) (int, error) {
	if len(b) == 0 {
		return 0, nil
	}
	st.mu.Lock()
	if st.lent {
		st.mu.Unlock()
		return 0, errors.New("linkmux: Read before the last borrow's Consume")
	}
	if err := st.readable(); err != nil {
		st.mu.Unlock()
		return 0, err
	}
	n := 0
	for i := 0; i < len(st.rq) && n < len(b); i++ {
		c := st.rq[i]
		n += copy(b[n:], (*c.bp)[c.r:c.w])
	}
	st.consumeLocked(n)
	st.mu.Unlock()
	return n, st.updateWindow()
}

// Borrow waits for received bytes and returns up to max of them in place,
// without a copy: they stay valid, and count against the stream's
// window, until Consume. Only one borrow may be outstanding.
func (st *Stream) Borrow(max int) ([]byte, error) {
	if max <= 0 {
		return nil, errors.New("linkmux: Borrow of nothing")
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.lent {
		return nil, errors.New("linkmux: Borrow before the last borrow's Consume")
	}
	if err := st.readable(); err != nil {
		return nil, err
	}
	c := st.rq[0]
	n := min(max, c.w-c.r)
	st.lent, st.lentN = true, n
	return (*c.bp)[c.r : c.r+n], nil
}

// Consume gives back the last borrow's first n bytes (all of it, as
// returned by Borrow) and lets the peer send as much more.
func (st *Stream) Consume(n int) error {
	st.mu.Lock()
	if !st.lent {
		st.mu.Unlock()
		return errors.New("linkmux: Consume without a Borrow")
	}
	if n < 0 || n > st.lentN {
		st.mu.Unlock()
		return fmt.Errorf("linkmux: Consume of %d bytes of a %d-byte borrow", n, st.lentN)
	}
	st.lent = false
	if st.readClosed {
		// Close came during the borrow and left this chunk to us.
		st.releaseLocked()
		st.mu.Unlock()
		return nil
	}
	st.consumeLocked(n)
	st.mu.Unlock()
	return st.updateWindow()
}

func (st *Stream) updateWindow() error {
	err := st.sendWindowUpdate()
	if errors.Is(err, ErrSessionShutdown) {
		return nil // the bytes were delivered; the next call says it
	}
	return err
}

// Write sends b as data frames as the peer's window allows.
func (st *Stream) Write(b []byte) (int, error) {
	st.sendMu.Lock()
	defer st.sendMu.Unlock()
	total := 0
	for total < len(b) {
		// The stream's first frame takes its SYN or ACK: under the write
		// lock from the take to the write (lockForFlags).
		held := st.lockForFlags()
		unlockW := func() {
			if held {
				st.s.wmu.Unlock()
				held = false
			}
		}
		for {
			switch st.state {
			case stateLocalClose, stateClosed:
				st.mu.Unlock()
				unlockW()
				if st.isShutdown() {
					return total, ErrSessionShutdown
				}
				return total, ErrStreamClosed
			case stateReset:
				st.mu.Unlock()
				unlockW()
				return total, ErrConnectionReset
			}
			if st.sendWindow > 0 {
				break
			}
			dl := st.wdl
			st.mu.Unlock()
			unlockW() // never wait for the window holding the link's write lock
			if err := st.wait(st.sendNotify, dl); err != nil {
				return total, err
			}
			held = st.lockForFlags()
		}
		n := min(int(st.sendWindow), len(b)-total)
		flags := st.sendFlags()
		// The stream's first frame carries its SYN or ACK, and the
		// window above the protocol's initial one follows it in the same
		// write. (A SYN on the data frame itself lets the peer hand the
		// stream on with its first bytes already there.)
		var window uint32
		if flags != 0 {
			window = st.windowDelta()
			st.recvWindow += window
		}
		st.sendWindow -= uint32(n)
		st.mu.Unlock()
		err := st.s.writeHeld(held, typeData, flags, st.id, uint32(n), b[total:total+n], window)
		unlockW()
		if err != nil {
			return total, err
		}
		total += n
	}
	return total, nil
}

func (st *Stream) isShutdown() bool {
	select {
	case <-st.s.done:
		return true
	default:
		return false
	}
}

// Close closes this side of the stream: the peer gets a FIN, and this
// side reads no more (bytes the peer sends afterwards reset the stream).
// The stream leaves the session when the peer's FIN (or RST) arrives, or
// after the close timeout.
//
// Bytes of the peer's still unread (buffered, or a frame whose body is
// still arriving) are dropped, and the FIN gives their window back: the
// peer's writer may be waiting for it, which a FIN alone does not end
// (it waited for the close timeout). From then on the stream drains:
// what the peer sends until its FIN is dropped as it arrives and its
// window given back at once (readData), never buffered, so the writer
// never waits. Why not reset the stream, as TCP's close does: upstream
// yamux's reader returns the reset as soon as it arrives and drops the
// bytes it has not read, so the frame this side wrote just before its
// close (an agent's End) would be lost to a peer on upstream yamux.
func (st *Stream) Close() error {
	held := st.lockForFlags() // a SYN or ACK still due rides with the FIN
	if held {
		defer st.s.wmu.Unlock()
	}
	unread := !st.readClosed && st.buffered+st.inflight > 0
	st.readClosed = true
	st.releaseLocked()
	var fin, gone bool
	var credit uint32 // the window the dropped bytes held, given back with the FIN
	switch st.state {
	case stateInit, stateSYNSent, stateSYNReceived, stateEstablished:
		st.state = stateLocalClose
		fin = true
		if unread {
			// The whole window, the frame still arriving included (its
			// rest is dropped as it comes): a draining stream buffers
			// nothing, so from here on recvWindow is the window minus
			// the bytes dropped and not yet given back.
			st.draining = true
			credit = st.s.window - st.recvWindow
			st.recvWindow = st.s.window
		}
	case stateRemoteClose:
		st.state = stateClosed
		fin, gone = true, true
		st.stopTimers()
	}
	flags := uint16(0)
	if fin {
		flags = st.sendFlags() | flagFIN // a SYN or ACK still due rides with the FIN
	}
	if fin && !gone {
		st.closeTimer = time.AfterFunc(st.s.closeT, st.closeTimeout)
	}
	st.mu.Unlock()
	notify(st.recvNotify)
	notify(st.sendNotify)
	if gone {
		st.s.forget(st.id)
	}
	if !fin {
		return nil
	}
	if err := st.s.writeHeld(held, typeWindowUpdate, flags, st.id, credit, nil, 0); err != nil && !errors.Is(err, ErrSessionShutdown) {
		return err
	}
	return nil
}

// Reset ends the stream at once, both ways: the peer gets a RST and the
// stream leaves the session now (Close keeps it until the peer's FIN or
// the close timeout). For streams this side refuses: a peer that opens
// them faster than it would answer FINs cannot fill the session's table.
func (st *Stream) Reset() error {
	st.mu.Lock()
	st.readClosed = true
	st.releaseLocked()
	if st.state == stateReset || st.state == stateClosed {
		st.mu.Unlock()
		return nil
	}
	st.state = stateReset
	unseen := st.pend == flagSYN // the peer never learned of the stream
	st.pend = 0
	st.stopTimers()
	st.mu.Unlock()
	notify(st.recvNotify)
	notify(st.sendNotify)
	st.s.forget(st.id)
	if unseen {
		return nil
	}
	if err := st.s.writeFrame(typeWindowUpdate, flagRST, st.id, 0, nil); err != nil && !errors.Is(err, ErrSessionShutdown) {
		return err
	}
	return nil
}

// closeTimeout resets a stream whose peer never answered its FIN.
func (st *Stream) closeTimeout() {
	st.mu.Lock()
	if st.state != stateLocalClose {
		st.mu.Unlock()
		return
	}
	st.state = stateReset
	st.mu.Unlock()
	st.s.forget(st.id)
	_ = st.s.writeFrame(typeWindowUpdate, flagRST, st.id, 0, nil)
}

// LocalAddr and RemoteAddr are the link's.
func (st *Stream) LocalAddr() net.Addr  { return st.s.conn.LocalAddr() }
func (st *Stream) RemoteAddr() net.Addr { return st.s.conn.RemoteAddr() }

// SetDeadline sets both deadlines.
func (st *Stream) SetDeadline(t time.Time) error {
	_ = st.SetReadDeadline(t)
	return st.SetWriteDeadline(t)
}

// SetReadDeadline bounds the reads that wait for bytes.
func (st *Stream) SetReadDeadline(t time.Time) error {
	st.mu.Lock()
	st.rdl = t
	st.mu.Unlock()
	notify(st.recvNotify)
	return nil
}

// SetWriteDeadline bounds the writes that wait for the peer's window.
func (st *Stream) SetWriteDeadline(t time.Time) error {
	st.mu.Lock()
	st.wdl = t
	st.mu.Unlock()
	notify(st.sendNotify)
	return nil
}
