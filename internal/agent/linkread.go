package agent

import (
	"errors"
	"fmt"
	"io"
	"net"
	"sync/atomic"
	"syscall"

	"github.com/postern/postern/internal/util/sockio"
	"github.com/postern/postern/internal/wire/tunnelproto"
)

// directStream is a link stream whose receive loop can hand a tunnel's
// bytes straight to the target (linkmux.Stream).
type directStream interface {
	tunnelproto.Lender
	SetDirect(take func(p []byte) int)
}

// linkReader reads a tunnel's frames from its link stream and writes the
// Data frames' payloads to the target. Two parties use it in turn, never
// at once (linkmux.Stream.SetDirect): the link's receive loop (take, in
// takeOnLoop, which also applies an EOF), which writes what the target's
// socket takes without waiting, and the tunnel's goroutine (feed), which
// takes over whenever take left bytes (the target's socket was full, a
// frame other than Data or EOF is next) and
// waits for the target as long as it must. Both go through the same
// state, so every byte is written once and in order.
type linkReader struct {
	target net.Conn
	rc     syscall.RawConn // the target's socket, for take's writes
	hdr    [tunnelproto.HeaderLen]byte
	hn     int    // bytes of the next frame's header in hdr (feed only)
	remain int    // payload bytes of the current Data frame not yet written
	end    []byte // an End frame's payload being read (feed only)
	endN   int    // its bytes read
	werr   error  // take's write to the target failed; feed reports it
}

// take writes Data payloads from p to the target as far as its socket
// takes them without waiting, and returns how many bytes of p it used
// (headers included). It stops, leaving the rest to feed, at a header
// that is not a whole Data frame's in p, when the socket is full, and at
// an error (kept in werr). It runs on the link's receive loop.
func (r *linkReader) take(p []byte) int {
	if r.werr != nil || r.end != nil || r.hn != 0 {
		return 0
	}
	n := 0
	for n < len(p) {
		if r.remain == 0 {
			if len(p)-n < tunnelproto.HeaderLen {
				return n
			}
			t, size, err := tunnelproto.ParseHeader([tunnelproto.HeaderLen]byte(p[n : n+tunnelproto.HeaderLen]))
			if err != nil || t != tunnelproto.FrameData {
				return n // feed reads it (and reports it, if it is wrong)
			}
			n += tunnelproto.HeaderLen
			r.remain = size
			continue
		}
		k := min(r.remain, len(p)-n)
		w, err := sockio.WriteNow(r.rc, p[n:n+k])
		n += w
		r.remain -= w
		if err != nil {
			var oe *net.OpError
			if !errors.As(err, &oe) {
				err = &net.OpError{Op: "write", Net: "tcp", Source: r.target.LocalAddr(), Addr: r.target.RemoteAddr(), Err: err}
			}
			r.werr = err
			return n
		}
		if w < k {
			return n // the target's socket is full: feed waits for it
		}
	}
	return n
}

// takeOnLoop is take as the link's receive loop runs it: it also applies
// an EOF frame (the server's half-close of the tunnel) there, with a raw
// shutdown(2) of the target's socket (it never waits), and goes on with
// the frames after it. Left to feed, each tunnel's EOF woke the tunnel's
// goroutine only to half-close the target, and the runtime a thread for
// it: a wake-up per tunnel, which its FIN then repeats to end it. The
// receive loop hands it bytes only when every byte before them was
// written (SetDirect), so the target still gets its bytes, then its EOF.
func (r *linkReader) takeOnLoop(p []byte) int {
	n := 0
	for {
		n += r.take(p[n:])
		if r.werr != nil || r.end != nil || r.hn != 0 || r.remain != 0 || len(p)-n < tunnelproto.HeaderLen {
			return n
		}
		t, size, err := tunnelproto.ParseHeader([tunnelproto.HeaderLen]byte(p[n : n+tunnelproto.HeaderLen]))
		if err != nil || t != tunnelproto.FrameEOF || size != 0 {
			return n // feed reads it (and reports it, if it is wrong)
		}
		n += tunnelproto.HeaderLen
		_ = sockio.CloseWrite(r.target) // a raw shutdown, as feed's caller does
	}
}

// feed is take for the tunnel's goroutine: it writes Data payloads to the
// target with sock, waiting for room as long as it takes, and reads the
// other frames. It returns how many bytes of p it used, the target's
// write error (werr), and: io.EOF after an EOF frame, an
// *tunnelproto.EndReason after an End frame, or a malformed frame's
// error.
func (r *linkReader) feed(p []byte, sock sockio.Socket) (n int, werr, err error) {
	for n < len(p) {
		switch {
		case r.end != nil:
			k := copy(r.end[r.endN:], p[n:])
			r.endN += k
			n += k
			if r.endN == len(r.end) {
				return n, nil, r.endReason()
			}
		case r.remain > 0:
			k := min(r.remain, len(p)-n)
			w, err := sock.Write(p[n : n+k])
			n += w
			r.remain -= w
			if err != nil {
				return n, err, nil
			}
		default:
			k := copy(r.hdr[r.hn:], p[n:])
			r.hn += k
			n += k
			if r.hn < tunnelproto.HeaderLen {
				return n, nil, nil
			}
			r.hn = 0
			t, size, err := tunnelproto.ParseHeader(r.hdr)
			if err != nil {
				return n, nil, err
			}
			switch t {
			case tunnelproto.FrameData:
				r.remain = size
			case tunnelproto.FrameEOF:
				return n, nil, io.EOF
			case tunnelproto.FrameEnd:
				r.end, r.endN = make([]byte, size), 0
				if size == 0 {
					return n, nil, r.endReason()
				}
			default:
				return n, nil, fmt.Errorf("%w: unexpected %s frame in a tunnel", tunnelproto.ErrFrame, t)
			}
		}
	}
	return n, nil, nil
}

// endReason decodes the End frame read into r.end.
func (r *linkReader) endReason() error {
	b := r.end
	r.end = nil
	var er tunnelproto.EndReason
	if err := tunnelproto.DecodeJSON(tunnelproto.FrameEnd, b, &er); err != nil {
		return err
	}
	if er.Code == "" {
		er.Code = tunnelproto.CodeInternal
	}
	return &er
}

// maxBorrow is as much of a stream's received bytes as one borrow asks
// for (linkmux lends at most one chunk at a time).
const maxBorrow = 1 << 30

// linkToTargetDirect is linkToTarget for a link stream that lends its
// bytes and can hand them to a direct reader, to a TCP target: the
// link's receive loop writes each frame's bytes to the target while its
// socket has room (no wake-up of this goroutine per frame), and this
// goroutine writes what the socket did not take, and everything received
// after it until it has caught up, as linkToTarget does.
func linkToTargetDirect(t *tunnel, st directStream, rc syscall.RawConn) {
	r := &linkReader{target: t.target, rc: rc}
	sock := sockio.Of(t.target)
	st.SetDirect(r.takeOnLoop)
	defer st.SetDirect(nil)
	if h := testHookDirectSet.Load(); h != nil {
		(*h)()
	}
	for {
		p, err := st.Borrow(maxBorrow)
		if err != nil {
			return // the stream ended or broke: the server is done with the tunnel
		}
		if r.werr != nil {
			_ = st.Consume(0)
			t.end(targetEnd(r.werr))
			return
		}
		n, werr, ferr := r.feed(p, sock)
		cerr := st.Consume(n)
		if werr != nil {
			t.end(targetEnd(werr))
			return
		}
		switch {
		case ferr == nil:
		case errors.Is(ferr, io.EOF):
			_ = sockio.CloseWrite(t.target) // a raw shutdown
		default:
			var er *tunnelproto.EndReason
			if errors.As(ferr, &er) {
				// The server ended the tunnel; reset the target so that
				// it does not wait for more.
				if tc, ok := t.target.(*net.TCPConn); ok {
					_ = tc.SetLinger(0)
				}
			}
			return
		}
		if cerr != nil {
			return
		}
	}
}

// testHookDirectSet, set by tests only, runs on the tunnel's goroutine
// once the link's receive loop may write to the target, before the
// goroutine first waits for the stream's bytes: a test that holds it
// there sees what the receive loop does alone.
var testHookDirectSet atomic.Pointer[func()]

// directOf returns the stream and the target's raw socket when the
// tunnel's bytes can be written to the target from the link's receive
// loop.
func directOf(s net.Conn, target net.Conn) (directStream, syscall.RawConn, bool) {
	if !sockio.WriteNowWorks {
		return nil, nil, false
	}
	st, ok := s.(directStream)
	if !ok {
		return nil, nil, false
	}
	tc, ok := target.(*net.TCPConn)
	if !ok {
		return nil, nil, false
	}
	rc, err := tc.SyscallConn()
	if err != nil {
		return nil, nil, false
	}
	return st, rc, true
}
