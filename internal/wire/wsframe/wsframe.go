// Package wsframe reads and writes the WebSocket frames of an openTunnel
// connection (RFC 6455), on top of github.com/gobwas/ws's frame-level API.
//
// It works frame by frame rather than message by message so that tunnel
// bytes are never buffered whole: a frame's header is read with no buffer
// at hand, then its payload is streamed in chunks into a borrowed buffer,
// unmasked in place; an outgoing frame's header is written into headroom in
// front of its payload, so header and payload leave in one write. The
// library choice is measured in internal/bench/wsbench/RESULTS.md.
package wsframe

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/gobwas/ws"
)

// Close codes used by Postern (RFC 6455 §7.4.1).
const (
	CloseNormal          = 1000
	CloseGoingAway       = 1001
	CloseProtocolError   = 1002
	CloseUnsupportedData = 1003
	CloseNoStatus        = 1005 // never sent: "no code in the frame"
	CloseAbnormal        = 1006 // never sent: the connection ended without a close frame
	ClosePolicyViolation = 1008
	CloseTooBig          = 1009
	CloseInternalError   = 1011
)

// MaxHeader is the largest frame header (masked, 64-bit length).
const MaxHeader = 14

// Frame kinds Reader.Next reports.
type Kind int

// Frame kinds.
const (
	KindData  Kind = iota + 1 // binary (or continuation) payload follows
	KindText                  // a text frame: the tunnel refuses it
	KindPing                  // payload in Frame.Control
	KindPong                  // payload in Frame.Control
	KindClose                 // Frame.Code and Frame.Reason
)

// Frame is a frame header Reader.Next read. For data frames the payload
// is still on the wire (Reader.ReadPayload); control frames come whole.
type Frame struct {
	Kind    Kind
	Length  int64
	Control []byte // ping/pong payload
	Code    int    // close code, CloseNoStatus when none
	Reason  string
}

// Reader reads frames from one peer. It is for one goroutine.
type Reader struct {
	r       io.Reader
	masked  bool // frames from this peer must be masked (the peer is a client)
	mask    [4]byte
	remain  int64
	offset  int
	scratch [MaxHeader]byte
}

// NewReader reads frames from r; fromClient says the peer is a client,
// whose frames must be masked (a server's must not be).
func NewReader(r io.Reader, fromClient bool) *Reader { return &Reader{r: r, masked: fromClient} }

// ErrProtocol is wrapped by errors about frames that break RFC 6455.
var ErrProtocol = errors.New("websocket protocol error")

// Next reads the next frame header. For a data frame the caller then reads
// Frame.Length bytes with ReadPayload (Next skips what it left unread).
func (r *Reader) Next() (Frame, error) {
	if r.remain > 0 {
		if _, err := io.CopyN(io.Discard, r, r.remain); err != nil {
			return Frame{}, err
		}
	}
	h, err := ws.ReadHeaderBuffer(r.r, r.scratch[:])
	if err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed) {
			return Frame{}, err
		}
		var ne net.Error
		if errors.As(err, &ne) {
			return Frame{}, err
		}
		return Frame{}, fmt.Errorf("%w: %v", ErrProtocol, err)
	}
	if h.Masked != r.masked {
		return Frame{}, fmt.Errorf("%w: masked=%v frame from a peer that must send masked=%v", ErrProtocol, h.Masked, r.masked)
	}
	if h.Rsv != 0 {
		return Frame{}, fmt.Errorf("%w: reserved bits set (no extension was negotiated)", ErrProtocol)
	}
	r.mask, r.offset = h.Mask, 0
	if h.OpCode.IsControl() {
		if h.Length > 125 || !h.Fin {
			return Frame{}, fmt.Errorf("%w: control frame of %d bytes or fragmented", ErrProtocol, h.Length)
		}
		p := make([]byte, h.Length)
		if _, err := io.ReadFull(r.r, p); err != nil {
			return Frame{}, err
		}
		if h.Masked {
			ws.Cipher(p, h.Mask, 0)
		}
		switch h.OpCode {
		case ws.OpPing:
			return Frame{Kind: KindPing, Control: p}, nil
		case ws.OpPong:
			return Frame{Kind: KindPong, Control: p}, nil
		case ws.OpClose:
			f := Frame{Kind: KindClose, Code: CloseNoStatus}
			if len(p) == 1 {
				return Frame{}, fmt.Errorf("%w: one-byte close payload", ErrProtocol)
			}
			if len(p) >= 2 {
				f.Code = int(binary.BigEndian.Uint16(p))
				f.Reason = string(p[2:])
			}
			return f, nil
		}
		return Frame{}, fmt.Errorf("%w: unknown control opcode %d", ErrProtocol, h.OpCode)
	}
	switch h.OpCode {
	case ws.OpBinary, ws.OpContinuation:
		r.remain = h.Length
		return Frame{Kind: KindData, Length: h.Length}, nil
	case ws.OpText:
		r.remain = h.Length
		return Frame{Kind: KindText, Length: h.Length}, nil
	}
	return Frame{}, fmt.Errorf("%w: unknown opcode %d", ErrProtocol, h.OpCode)
}

// Read reads the current data frame's payload, unmasked; io.EOF at its
// end.
func (r *Reader) Read(p []byte) (int, error) {
	if r.remain == 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > r.remain {
		p = p[:r.remain]
	}
	n, err := r.r.Read(p)
	if n > 0 {
		if r.masked {
			ws.Cipher(p[:n], r.mask, r.offset)
		}
		r.offset += n
		r.remain -= int64(n)
	}
	if err == io.EOF && r.remain > 0 {
		err = io.ErrUnexpectedEOF
	}
	return n, err
}

// ReadPayload fills p (at most the frame's remaining bytes) and returns
// the number of bytes read.
func (r *Reader) ReadPayload(p []byte) (int, error) {
	if int64(len(p)) > r.remain {
		p = p[:r.remain]
	}
	return io.ReadFull(r, p)
}

// Remaining is the number of payload bytes of the current frame not read.
func (r *Reader) Remaining() int64 { return r.remain }

// Writer writes frames to one peer; it is safe for concurrent use (each
// frame is one write).
//
// Its fields are in this order so that it stays 80 bytes (a size class):
// one per open tunnel.
type Writer struct {
	mu       sync.Mutex
	w        io.Writer
	deadline func(time.Time) error
	armed    time.Time       // the write deadline last set (mu)
	hdr      [MaxHeader]byte // writeParts' header (mu): one on the stack escapes, an allocation per frame
	masked   bool            // this side is a client: frames are masked
	closed   bool            // a close frame was written
	// limit (unix nanoseconds, 0: none) is the deadline CloseBy set:
	// every write from then on ends by it, however long ago the write
	// deadline was armed. Atomic: CloseBy sets it while a write holds mu.
	limit atomic.Int64
}

// NewWriter writes frames to w; toServer says this side is a client whose
// frames must be masked. If w is a net.Conn, writes get a deadline.
func NewWriter(w io.Writer, toServer bool) *Writer {
	wr := &Writer{w: w, masked: toServer}
	if c, ok := w.(net.Conn); ok {
		wr.deadline = c.SetWriteDeadline
	}
	return wr
}

// WriteTimeout bounds a frame write: a peer that stops reading for this
// long (less at most RearmSlack) is given up.
const WriteTimeout = 60 * time.Second

// RearmSlack is how far the connection's write deadline may lag behind
// WriteTimeout from a write's start before the write moves it: a bulk
// transfer writes thousands of frames a second, and moving the deadline
// for each one costs a timer modification in the runtime (1.4 % of the
// server's CPU in the one-hop download's profile) for a bound that
// changes by microseconds.
const RearmSlack = time.Second

// arm sets the write deadline for a write starting now, unless the one
// set last is at most RearmSlack short of it. w.mu is held.
func (w *Writer) arm() {
	if w.deadline == nil {
		return
	}
	if l := w.limit.Load(); l != 0 {
		w.armLimit(l)
		return
	}
	if d := time.Now().Add(WriteTimeout); d.Sub(w.armed) >= RearmSlack {
		_ = w.deadline(d)
		w.armed = d
		// CloseBy may have set its limit (and the deadline) between the
		// load above and this write's deadline, which then undid it.
		if l := w.limit.Load(); l != 0 {
			w.armLimit(l)
		}
	}
}

// armLimit sets the write deadline to CloseBy's limit l. w.mu is held.
func (w *Writer) armLimit(l int64) {
	if d := time.Unix(0, l); !d.Equal(w.armed) {
		_ = w.deadline(d)
		w.armed = d
	}
}

// ErrClosed means a close frame was written already.
var ErrClosed = errors.New("websocket: close frame already sent")

// headerInto writes the header of a frame with n payload bytes just before
// b[headroom:] (masking the payload in place when this side is a client)
// and returns where the frame starts.
func (w *Writer) headerInto(b []byte, headroom int, op ws.OpCode, n int) (int, error) {
	size := 2
	switch {
	case n > 0xffff:
		size += 8
	case n > 125:
		size += 2
	}
	if w.masked {
		size += 4
	}
	if size > headroom {
		return 0, fmt.Errorf("wsframe: %d bytes of headroom for a %d-byte header", headroom, size)
	}
	h := b[headroom-size : headroom]
	h[0] = 0x80 | byte(op) // FIN
	i := 2
	switch {
	case n > 0xffff:
		h[1] = 127
		binary.BigEndian.PutUint64(h[2:], uint64(n))
		i += 8
	case n > 125:
		h[1] = 126
		binary.BigEndian.PutUint16(h[2:], uint16(n))
		i += 2
	default:
		h[1] = byte(n)
	}
	if w.masked {
		h[1] |= 0x80
		mask := ws.NewMask()
		copy(h[i:], mask[:])
		ws.Cipher(b[headroom:headroom+n], mask, 0)
	}
	return headroom - size, nil
}

// WriteData writes buf[headroom:] as one binary frame, using the headroom
// for the header (at least MaxHeader bytes). A masking writer masks the
// payload in place.
func (w *Writer) WriteData(buf []byte, headroom int) error {
	start, err := w.headerInto(buf, headroom, ws.OpBinary, len(buf)-headroom)
	if err != nil {
		return err
	}
	return w.write(buf[start:], false)
}

// WriteDataSplit writes buf[headroom:] as binary frames of at most max
// payload bytes each (max > 0), with no copy: the first frame's header goes
// in the headroom, each later one over the last bytes of the payload
// before it, which were written already (an io.Writer does not keep what
// it was given). Peers that read frames of at most 64 KiB well (the
// AWS CLI sends 65,000-byte frames) get frames of that size from a larger
// buffer. A masking writer masks each frame's payload in place.
func (w *Writer) WriteDataSplit(buf []byte, headroom, max int) error {
	if max <= 0 {
		return fmt.Errorf("wsframe: frames of at most %d bytes", max)
	}
	off := headroom
	for {
		n := min(len(buf)-off, max)
		start, err := w.headerInto(buf, off, ws.OpBinary, n)
		if err != nil {
			return err
		}
		if err := w.write(buf[start:off+n], false); err != nil {
			return err
		}
		off += n
		if off >= len(buf) {
			return nil
		}
	}
}

// WriteDataParts writes p as binary frames of at most max payload bytes
// each (max > 0), each header written just before its payload in a write
// of its own, so that p needs no headroom and is neither copied nor
// changed: for bytes lent by another buffer (a link stream's). Run it in
// a tlsbatch batch to send headers and payloads in one system call. Only
// for a writer that does not mask (a server's): masking changes p.
func (w *Writer) WriteDataParts(p []byte, max int) error {
	if w.masked {
		return errors.New("wsframe: WriteDataParts on a masking writer")
	}
	if max <= 0 {
		return fmt.Errorf("wsframe: frames of at most %d bytes", max)
	}
	for off := 0; off < len(p); {
		n := min(len(p)-off, max)
		if err := w.writeParts(p[off : off+n]); err != nil {
			return err
		}
		off += n
	}
	return nil
}

// writeParts writes a binary frame's header (made in w.hdr) and its
// payload, one after the other under the writer's lock.
func (w *Writer) writeParts(payload []byte) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return ErrClosed
	}
	start, err := w.headerInto(w.hdr[:], len(w.hdr), ws.OpBinary, len(payload))
	if err != nil {
		return err
	}
	w.arm()
	if _, err := w.w.Write(w.hdr[start:]); err != nil {
		return err
	}
	_, err = w.w.Write(payload)
	return err
}

func (w *Writer) write(frame []byte, closing bool) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return ErrClosed
	}
	if closing {
		w.closed = true
	}
	w.arm()
	_, err := w.w.Write(frame)
	return err
}

func (w *Writer) control(op ws.OpCode, payload []byte) error {
	if len(payload) > 125 {
		payload = payload[:125]
	}
	b := make([]byte, MaxHeader+len(payload))
	copy(b[MaxHeader:], payload)
	start, err := w.headerInto(b, MaxHeader, op, len(payload))
	if err != nil {
		return err
	}
	return w.write(b[start:], op == ws.OpClose)
}

// Ping writes a ping frame.
func (w *Writer) Ping(payload []byte) error { return w.control(ws.OpPing, payload) }

// Pong answers a ping with its payload.
func (w *Writer) Pong(payload []byte) error { return w.control(ws.OpPong, payload) }

// Close writes a close frame with a code and a reason (cut to fit 123
// bytes of UTF-8); code 0 writes an empty close frame. Later writes fail
// with ErrClosed.
func (w *Writer) Close(code int, reason string) error {
	if code == 0 {
		return w.control(ws.OpClose, nil)
	}
	reason = truncateUTF8(reason, 123)
	p := make([]byte, 2+len(reason))
	binary.BigEndian.PutUint16(p, uint16(code))
	copy(p[2:], reason)
	return w.control(ws.OpClose, p)
}

// CloseBy writes a close frame as Close does, but waits for the peer no
// later than by, whatever the writer is doing: a write in progress (one
// to a peer that stopped reading holds the writer for up to
// WriteTimeout) has its deadline moved to by, and so does every write
// after it, the close frame's too. It returns by then with the write's
// error if the frame could not be written (a timed-out write may have
// left part of a frame, so the connection must then be closed without
// one). A writer that is not over a net.Conn has no deadline to move.
func (w *Writer) CloseBy(code int, reason string, by time.Time) error {
	w.LimitBy(by)
	return w.Close(code, reason)
}

// LimitBy makes every write end by by at the latest, the one in progress
// too (its deadline moved at once) and the close frame's: CloseBy's
// limit, for a writer whose close frame another goroutine writes (or is
// waiting to). A limit is never moved later. A writer that is not over a
// net.Conn has no deadline to move.
func (w *Writer) LimitBy(by time.Time) {
	if w.deadline == nil {
		return
	}
	n := by.UnixNano()
	for {
		old := w.limit.Load()
		if old != 0 && old <= n {
			return
		}
		if w.limit.CompareAndSwap(old, n) {
			break
		}
	}
	// Not under mu, which the write in progress holds; that write's arm
	// has run already or sees the limit (arm).
	_ = w.deadline(by)
}

// Limit is the deadline LimitBy or CloseBy set (zero: none).
func (w *Writer) Limit() time.Time {
	if l := w.limit.Load(); l != 0 {
		return time.Unix(0, l)
	}
	return time.Time{}
}

// Closed reports whether a close frame was written.
func (w *Writer) Closed() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.closed
}

func truncateUTF8(s string, n int) string {
	if len(s) <= n {
		return s
	}
	s = s[:n]
	for len(s) > 0 && !utf8.ValidString(s) {
		s = s[:len(s)-1]
	}
	return s
}
