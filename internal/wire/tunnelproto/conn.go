package tunnelproto

import (
	"errors"
	"fmt"
	"io"
	"sync"
)

// Conn carries a tunnel's frames over one stream of the link, after the
// Dial/DialResult exchange. Recv is for one reading goroutine; the Send
// methods may be called from several goroutines.
type Conn struct {
	rw     io.ReadWriteCloser
	hdr    [HeaderLen]byte
	remain int // payload bytes of the current Data frame not yet delivered

	wmu     sync.Mutex // serialises frames written
	sentEnd bool       // an EOF or End was written; no more Data
}

// NewConn wraps a link stream.
func NewConn(rw io.ReadWriteCloser) *Conn { return &Conn{rw: rw} }

// Recv waits for tunnel bytes from the peer. When a Data frame arrives it
// calls get with the number of bytes available (at most MaxPayload) and
// fills the slice get returns (which may be shorter: the rest comes with
// the next calls) and returns it. It returns io.EOF when the peer
// half-closed (an EOF frame), an *EndReason when the peer ended the
// tunnel, and another error when the stream broke. Empty Data frames are
// skipped. No buffer is requested while waiting, so an idle tunnel holds
// none.
func (c *Conn) Recv(get func(n int) []byte) ([]byte, error) {
	if err := c.next(); err != nil {
		return nil, err
	}
	buf := get(c.remain)
	if len(buf) > c.remain {
		buf = buf[:c.remain]
	}
	if len(buf) == 0 {
		return nil, errors.New("tunnelproto: Recv was given an empty buffer")
	}
	n, err := io.ReadFull(c.rw, buf)
	c.remain -= n
	if err != nil {
		return nil, noEOF(err)
	}
	return buf[:n], nil
}

// Lender is a link stream that can lend the bytes it received in place
// (linkmux.Stream): Borrow waits for bytes and returns up to max of them,
// valid until Consume gives them back.
type Lender interface {
	Borrow(max int) ([]byte, error)
	Consume(n int) error
}

// RecvFunc waits for tunnel bytes like Recv and hands them to use. When
// the stream is a Lender they are the stream's own buffer (no copy; the
// link's window reopens once use returns); otherwise they are read into
// the buffer get returns, as Recv does. It returns use's error as it is,
// and otherwise what Recv would.
func (c *Conn) RecvFunc(get func(n int) []byte, use func([]byte) error) error {
	l, ok := c.rw.(Lender)
	if !ok {
		b, err := c.Recv(get)
		if err != nil {
			return err
		}
		return use(b)
	}
	if err := c.next(); err != nil {
		return err
	}
	p, err := l.Borrow(c.remain)
	if err != nil {
		return noEOF(err)
	}
	uerr := use(p)
	c.remain -= len(p)
	if err := l.Consume(len(p)); err != nil && uerr == nil {
		return err
	}
	return uerr
}

// next reads frame headers until a Data frame's payload is due.
func (c *Conn) next() error {
	for c.remain == 0 {
		t, n, err := ReadHeader(c.rw, &c.hdr)
		if err != nil {
			if errors.Is(err, io.EOF) {
				return io.ErrUnexpectedEOF // a stream never just stops
			}
			return err
		}
		switch t {
		case FrameData:
			c.remain = n
		case FrameEOF:
			return io.EOF
		case FrameEnd:
			b := make([]byte, n)
			if _, err := io.ReadFull(c.rw, b); err != nil {
				return noEOF(err)
			}
			var r EndReason
			if err := DecodeJSON(t, b, &r); err != nil {
				return err
			}
			if r.Code == "" {
				r.Code = CodeInternal
			}
			return &r
		default:
			return fmt.Errorf("%w: unexpected %s frame in a tunnel", ErrFrame, t)
		}
	}
	return nil
}

// SendData writes frame[HeaderLen:] as one Data frame; frame[:HeaderLen]
// is scratch space for the header, so header and payload leave in one
// write.
func (c *Conn) SendData(frame []byte) error {
	n := len(frame) - HeaderLen
	if n < 0 {
		return errors.New("tunnelproto: SendData needs HeaderLen bytes of headroom")
	}
	if n > MaxPayload {
		return fmt.Errorf("%w: payload of %d bytes exceeds %d", ErrFrame, n, MaxPayload)
	}
	PutHeader(frame, FrameData, n)
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.sentEnd {
		return io.ErrClosedPipe
	}
	_, err := c.rw.Write(frame)
	return err
}

// SendEOF tells the peer this side's bytes ended (half-close).
func (c *Conn) SendEOF() error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.sentEnd {
		return nil
	}
	c.sentEnd = true
	return WriteFrame(c.rw, FrameEOF, nil)
}

// SendEnd ends the tunnel with a reason. It may follow SendEOF.
func (c *Conn) SendEnd(code, message string) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.sentEnd = true
	return WriteJSON(c.rw, FrameEnd, EndReason{Code: code, Message: message})
}

// Shrink lets the stream give back its receive buffer if it holds no
// data, for streams that keep one (upstream yamux's keeps the largest it
// ever needed; linkmux's holds none while idle and has no Shrink). Owners
// call it now and then on every tunnel, so that idle tunnels cost a few
// KiB each (internal/bench/linkbench). It is safe to call while Recv
// runs.
func (c *Conn) Shrink() {
	if s, ok := c.rw.(interface{ Shrink() }); ok {
		s.Shrink()
	}
}

// Close closes the stream.
func (c *Conn) Close() error { return c.rw.Close() }
