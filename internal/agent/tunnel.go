package agent

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/postern/postern/internal/agent/egress"
	"github.com/postern/postern/internal/agent/targetdial"
	"github.com/postern/postern/internal/util/bufpool"
	"github.com/postern/postern/internal/util/netutil"
	"github.com/postern/postern/internal/util/sockio"
	"github.com/postern/postern/internal/util/stackgrow"
	"github.com/postern/postern/internal/wire/tunnelproto"
)

// tunnel is one tunnel the agent carries: a link stream and the target
// connection.
type tunnel struct {
	id      string
	link    *tunnelproto.Conn
	stream  net.Conn // the link stream link reads and writes
	target  net.Conn
	dialing bool

	endOnce sync.Once
}

// end ends the tunnel with a reason (sent to the server) and closes both
// sides.
func (t *tunnel) end(code, msg string) {
	t.endOnce.Do(func() {
		_ = t.link.SendEnd(code, msg)
		if t.target != nil {
			t.target.Close()
		}
		t.link.Close()
	})
}

// serveStream handles one tunnel stream: the dial request and the dial,
// on the goroutine the link's receive loop started for the stream. The
// dial and the request's decoding need an 8 KiB stack, which a goroutine
// keeps until collections shrink it; an open tunnel's bytes are therefore
// carried by two fresh goroutines (carry, pump) and this one ends, so that
// an idle tunnel costs two small stacks (internal/bench/tunnelbench,
// BenchmarkConcurrentTunnels).
func (a *Agent) serveStream(ctx context.Context, s net.Conn, policy egress.Policy) {
	// The decoding and the dial need 8 KiB of stack: grown once here, in a
	// shallow copy, not twice deep inside them (package stackgrow).
	stackgrow.To8K()
	if t := a.openTunnel(ctx, s, policy); t != nil {
		go a.carry(t, s)
	}
}

// openTunnel reads a stream's dial request and dials its target, and
// returns the open tunnel, registered, once the server was told; or nil,
// the stream closed, when the tunnel is refused or failed.
func (a *Agent) openTunnel(ctx context.Context, s net.Conn, policy egress.Policy) *tunnel {
	handedOff := false
	defer func() {
		if !handedOff {
			s.Close()
		}
	}()
	_ = s.SetReadDeadline(time.Now().Add(30 * time.Second))
	var req tunnelproto.DialRequest
	if err := tunnelproto.ReadJSON(s, tunnelproto.FrameDial, &req); err != nil {
		a.log.Warn("bad dial request", "error", err)
		_ = tunnelproto.WriteJSON(s, tunnelproto.FrameDialResult, tunnelproto.DialResult{Code: tunnelproto.CodeBadRequest, Message: err.Error()})
		return nil
	}
	_ = s.SetReadDeadline(time.Time{})
	// No logger derived per tunnel (slog's With formats its attributes
	// at once, on every open): the tunnel's id is an attribute of each
	// line instead, the same output.
	refuse := func(code, msg string) {
		a.log.Info("tunnel refused", "tunnel", req.TunnelID, "target", net.JoinHostPort(req.Address, strconv.Itoa(req.Port)), "code", code, "reason", msg)
		_ = tunnelproto.WriteJSON(s, tunnelproto.FrameDialResult, tunnelproto.DialResult{Code: code, Message: msg})
	}
	t := &tunnel{id: req.TunnelID, link: tunnelproto.NewConn(s), stream: s, dialing: true}
	if !a.register(t) {
		refuse(tunnelproto.CodeDraining, "The endpoint agent is shutting down")
		return nil
	}
	defer func() {
		if !handedOff {
			a.unregister(t)
		}
	}()
	conn, res := targetdial.Dial(ctx, policy, req, a.cfg.DialTimeout)
	if conn == nil {
		refuse(res.Code, res.Message)
		return nil
	}
	t.target = conn
	if _, err := s.Write(dialOK); err != nil {
		conn.Close()
		return nil
	}
	if a.log.Enabled(ctx, slog.LevelDebug) { // the address is formatted only when it is logged
		a.log.Debug("tunnel open", "tunnel", req.TunnelID, "target", conn.RemoteAddr().String())
	}
	handedOff = true
	return t
}

// dialOK is the frame of a successful dial's result, encoded once: the
// bytes tunnelproto.WriteJSON writes for DialResult{OK: true}, without
// an encoding and two allocations per open. Writers only read it.
var dialOK = func() []byte {
	var b bytes.Buffer
	_ = tunnelproto.WriteJSON(&b, tunnelproto.FrameDialResult, tunnelproto.DialResult{OK: true}) // a fixed value: cannot fail
	return b.Bytes()
}()

// carry pumps an open tunnel's bytes until it ends, then forgets it. It
// keeps no logger of its own (one per tunnel would be held while idle).
func (a *Agent) carry(t *tunnel, s net.Conn) {
	// carry reaches 4 KiB anyway at its first wait for the link's bytes,
	// deeper: grown here in a shallow copy, no more memory than before.
	stackgrow.To4K()
	defer s.Close()
	defer a.unregister(t)
	pump(t)
	if a.log.Enabled(context.Background(), slog.LevelDebug) {
		a.log.Debug("tunnel closed", "tunnel", t.id, "target", t.target.RemoteAddr().String())
	}
}

// pump carries bytes both ways until the tunnel ends. The server decides
// when a tunnel is over: after both directions ended (EOF each way) it
// closes the stream; an End frame from it, or the stream breaking, aborts.
func pump(t *tunnel) {
	targetDone := make(chan struct{})
	go func() {
		defer close(targetDone)
		targetToLink(t)
	}()
	linkToTarget(t)
	t.target.Close()
	<-targetDone
	t.link.Close()
}

// targetToLink copies the target's bytes into Data frames. It borrows a
// buffer only once the target has data (an idle tunnel holds none, even
// right after a burst), and a big one after a read that brought 64 KiB or
// more (a bulk transfer: fewer, larger frames).
func targetToLink(t *tunnel) {
	sock := sockio.Of(t.target)
	full := false // the last read brought 64 KiB or more: more is likely there
	var bp *[]byte
	borrow := func() []byte {
		if full {
			bp = bufpool.GetBig()
		} else {
			bp = bufpool.Get()
		}
		return (*bp)[tunnelproto.HeaderLen : tunnelproto.HeaderLen+bufpool.ChunkOf(bp)]
	}
	giveBack := func() {
		bufpool.Put(bp)
		bp = nil
	}
	for {
		n, err := sock.ReadBorrowed(borrow, giveBack)
		full = n >= bufpool.Chunk // stays big while reads bring 64 KiB or more
		if n > 0 {
			if werr := t.link.SendData((*bp)[:tunnelproto.HeaderLen+n]); werr != nil {
				giveBack()
				t.target.Close()
				return
			}
		}
		giveBack()
		switch {
		case err == nil:
		case errors.Is(err, io.EOF):
			_ = t.link.SendEOF()
			return
		case errors.Is(err, net.ErrClosed):
			return // closed on our side: the tunnel is over already
		default:
			t.end(targetEnd(err))
			return
		}
	}
}

func targetEnd(err error) (string, string) {
	if netutil.Classify(err) == netutil.KindReset {
		return tunnelproto.CodeTargetReset, "The target reset the connection"
	}
	return tunnelproto.CodeTargetError, "Connection to the target failed: " + err.Error()
}

// linkToTarget copies Data frames to the target. An EOF frame half-closes
// the target and the loop goes on (only an End or the stream closing can
// follow); it returns when the server ends or closes the stream. The
// bytes are written from the link stream's own buffer (RecvFunc borrows
// it: no copy, and the link's window reopens once the target took them).
// On a linkmux stream to a TCP target the link's receive loop writes them
// itself while the target's socket has room (linkToTargetDirect).
func linkToTarget(t *tunnel) {
	if st, rc, ok := directOf(t.stream, t.target); ok {
		linkToTargetDirect(t, st, rc)
		return
	}
	sock := sockio.Of(t.target)
	var bp *[]byte
	get := func(n int) []byte {
		bp = bufpool.GetFor(n)
		return (*bp)[:min(n, bufpool.ChunkOf(bp))]
	}
	var werr error
	write := func(p []byte) error {
		_, werr = sock.Write(p)
		return werr
	}
	for {
		err := t.link.RecvFunc(get, write)
		if bp != nil {
			bufpool.Put(bp)
			bp = nil
		}
		if werr != nil {
			t.end(targetEnd(werr))
			return
		}
		if err == nil {
			continue
		}
		switch {
		case errors.Is(err, io.EOF):
			_ = sockio.CloseWrite(t.target) // a raw shutdown
		default:
			var er *tunnelproto.EndReason
			if errors.As(err, &er) {
				// The server ended the tunnel; reset the target so that
				// it does not wait for more.
				if tc, ok := t.target.(*net.TCPConn); ok {
					_ = tc.SetLinger(0)
				}
			}
			return
		}
	}
}
