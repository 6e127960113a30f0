package wsbench

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"sync"
	"time"

	coder "github.com/coder/websocket"
	"github.com/gobwas/ws"
	gorilla "github.com/gorilla/websocket"
)

// maxFramePayload is the largest client frame the servers accept (the AWS CLI
// sends at most 65,000 bytes; anything far above is refused).
const maxFramePayload = 1 << 20

type lib struct {
	name  string
	serve serveFunc
}

// libs are the candidates. All run the tunnel on a new goroutine and return
// from the HTTP handler (detached): a handler that keeps running after the
// hijack keeps net/http's per-connection state alive (see inlineLibs).
var libs = []lib{
	{"gorilla", detached(upgradeGorilla(&gorilla.Upgrader{}))},
	// Own small read buffer instead of net/http's 4 KiB one, write buffer
	// from a pool only while a message is written.
	{"gorilla-tuned", detached(upgradeGorilla(&gorilla.Upgrader{ReadBufferSize: 1024, WriteBufferSize: 4096, WriteBufferPool: &sync.Pool{}}))},
	{"coder", detached(upgradeCoder)},
	{"gobwas", detached(upgradeGobwas)},
}

// inlineLibs run the tunnel on the HTTP handler's goroutine; only measured
// for idle memory.
var inlineLibs = []lib{
	{"gorilla-inline", inline(upgradeGorilla(&gorilla.Upgrader{}))},
	{"gobwas-inline", inline(upgradeGobwas)},
}

// upgradeFunc upgrades the request and returns the function that runs the
// tunnel until it ends, or nil (after calling t.done) if the upgrade failed.
type upgradeFunc func(w http.ResponseWriter, r *http.Request, t tunnel) (run func())

func inline(u upgradeFunc) serveFunc {
	return func(w http.ResponseWriter, r *http.Request, t tunnel) {
		if run := u(w, r, t); run != nil {
			run()
		}
	}
}

func detached(u upgradeFunc) serveFunc {
	return func(w http.ResponseWriter, r *http.Request, t tunnel) {
		if run := u(w, r, t); run != nil {
			go run()
		}
	}
}

func upgradeFailed(t tunnel) func() {
	closeSource(t.src)
	t.done()
	return nil
}

// pump copies src into the connection, one frame per read, through write.
// It takes a chunkPool buffer only once src has data (see waitReader).
func pump(src io.Reader, write func(buf []byte, n int) error, closeEOF func()) {
	wr, _ := src.(waitReader)
	for {
		if wr != nil {
			if err := wr.WaitRead(); err != nil {
				return
			}
		}
		bp := chunkPool.Get().(*[]byte)
		n, err := src.Read((*bp)[headroom:])
		var werr error
		if n > 0 {
			werr = write(*bp, n)
		}
		chunkPool.Put(bp)
		if werr != nil {
			return
		}
		if err == io.EOF {
			closeEOF()
			return
		}
		if err != nil {
			return
		}
	}
}

// --- gorilla/websocket ---

func upgradeGorilla(up *gorilla.Upgrader) upgradeFunc {
	return func(w http.ResponseWriter, r *http.Request, t tunnel) func() {
		c, err := up.Upgrade(w, r, nil)
		if err != nil {
			return upgradeFailed(t)
		}
		return func() { runGorilla(c, t) }
	}
}

func runGorilla(c *gorilla.Conn, t tunnel) {
	defer t.done()
	pumpDone := make(chan struct{})
	go func() {
		defer close(pumpDone)
		pump(t.src, func(buf []byte, n int) error {
			return c.WriteMessage(gorilla.BinaryMessage, buf[headroom:headroom+n])
		}, func() {
			_ = c.WriteControl(gorilla.CloseMessage, gorilla.FormatCloseMessage(gorilla.CloseNormalClosure, "eof"), time.Now().Add(5*time.Second))
		})
	}()
	// The default ping and close handlers answer PING with PONG and
	// CLOSE with CLOSE from inside NextReader.
	for {
		mt, rd, err := c.NextReader()
		if err != nil {
			break
		}
		if mt != gorilla.BinaryMessage {
			_ = c.WriteControl(gorilla.CloseMessage, gorilla.FormatCloseMessage(gorilla.CloseUnsupportedData, "binary frames only"), time.Now().Add(5*time.Second))
			break
		}
		bp := copyPool.Get().(*[]byte)
		_, err = io.CopyBuffer(t.sink, rd, *bp)
		copyPool.Put(bp)
		if err != nil {
			break
		}
	}
	_ = c.Close()
	closeSource(t.src)
	<-pumpDone
}

// --- coder/websocket ---

func upgradeCoder(w http.ResponseWriter, r *http.Request, t tunnel) func() {
	c, err := coder.Accept(w, r, nil) // no Origin from the AWS CLI; no compression by default
	if err != nil {
		return upgradeFailed(t)
	}
	return func() { runCoder(c, t) }
}

func runCoder(c *coder.Conn, t tunnel) {
	defer t.done()
	// Default is 32,768 bytes per message: it would refuse the CLI's 65,000-byte frames.
	c.SetReadLimit(maxFramePayload)
	ctx := context.Background()
	pumpDone := make(chan struct{})
	go func() {
		defer close(pumpDone)
		pump(t.src, func(buf []byte, n int) error {
			return c.Write(ctx, coder.MessageBinary, buf[headroom:headroom+n])
		}, func() {
			_ = c.Close(coder.StatusNormalClosure, "eof")
		})
	}()
	for {
		typ, rd, err := c.Reader(ctx)
		if err != nil {
			break
		}
		if typ != coder.MessageBinary {
			_ = c.Close(coder.StatusUnsupportedData, "binary frames only")
			break
		}
		bp := copyPool.Get().(*[]byte)
		_, err = io.CopyBuffer(t.sink, rd, *bp)
		copyPool.Put(bp)
		if err != nil {
			break
		}
	}
	_ = c.CloseNow()
	closeSource(t.src)
	<-pumpDone
}

// --- gobwas/ws, low-level API ---

type gobwasConn struct {
	conn net.Conn
	rd   io.Reader
	wmu  sync.Mutex
	// closeSent is set once a CLOSE went out; nothing is written after it.
	closeSent bool
}

func upgradeGobwas(w http.ResponseWriter, r *http.Request, t tunnel) func() {
	conn, rw, _, err := ws.UpgradeHTTP(r, w)
	if err != nil {
		return upgradeFailed(t)
	}
	c := &gobwasConn{conn: conn, rd: conn}
	if rw != nil && rw.Reader.Buffered() > 0 {
		// Bytes the client sent right behind the request.
		c.rd = io.MultiReader(io.LimitReader(rw.Reader, int64(rw.Reader.Buffered())), conn)
	}
	return func() { runGobwas(c, t) }
}

func runGobwas(c *gobwasConn, t tunnel) {
	defer t.done()
	pumpDone := make(chan struct{})
	go func() {
		defer close(pumpDone)
		pump(t.src, func(buf []byte, n int) error {
			frame := putServerHeader(buf, ws.OpBinary, n)
			c.wmu.Lock()
			defer c.wmu.Unlock()
			if c.closeSent {
				return errClosed
			}
			_, err := c.conn.Write(frame) // header + payload in one TLS write, no copy
			return err
		}, func() {
			_ = c.writeControl(ws.OpClose, ws.NewCloseFrameBody(ws.StatusNormalClosure, "eof"))
		})
	}()
	_ = c.readLoop(t.sink)
	_ = c.conn.Close()
	closeSource(t.src)
	<-pumpDone
}

func (c *gobwasConn) writeControl(op ws.OpCode, payload []byte) error {
	var buf [headroom + 125]byte
	n := copy(buf[headroom:], payload)
	frame := putServerHeader(buf[:], op, n)
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.closeSent {
		return errClosed
	}
	c.closeSent = op == ws.OpClose
	_, err := c.conn.Write(frame)
	return err
}

var errClosed = errors.New("websocket closed")

// readLoop reads frame headers and streams each BINARY payload into sink,
// unmasking in place, without holding a whole frame.
func (c *gobwasConn) readLoop(sink io.Writer) error {
	hb := make([]byte, 2, ws.MaxHeaderSize-2)
	for {
		h, err := ws.ReadHeaderBuffer(c.rd, hb)
		if err != nil {
			return err
		}
		switch {
		case !h.Masked || h.Rsv != 0:
			_ = c.writeControl(ws.OpClose, ws.NewCloseFrameBody(ws.StatusProtocolError, "bad frame"))
			return errClosed
		case h.OpCode.IsControl():
			if h.Length > 125 || !h.Fin {
				_ = c.writeControl(ws.OpClose, ws.NewCloseFrameBody(ws.StatusProtocolError, "bad control frame"))
				return errClosed
			}
			var p [125]byte
			if _, err := io.ReadFull(c.rd, p[:h.Length]); err != nil {
				return err
			}
			ws.Cipher(p[:h.Length], h.Mask, 0)
			switch h.OpCode {
			case ws.OpPing:
				if err := c.writeControl(ws.OpPong, p[:h.Length]); err != nil {
					return err
				}
			case ws.OpClose:
				// Answer with the client's status code (none if it sent
				// none, as the CLI does), unless our CLOSE went first.
				var reply []byte
				if h.Length >= 2 {
					reply = p[:2]
				}
				_ = c.writeControl(ws.OpClose, reply)
				return errClosed
			}
		case h.OpCode == ws.OpBinary || h.OpCode == ws.OpContinuation:
			if h.Length > maxFramePayload {
				_ = c.writeControl(ws.OpClose, ws.NewCloseFrameBody(ws.StatusMessageTooBig, "frame too big"))
				return errClosed
			}
			if err := c.copyPayload(sink, h); err != nil {
				return err
			}
		default: // TEXT or reserved
			_ = c.writeControl(ws.OpClose, ws.NewCloseFrameBody(ws.StatusUnsupportedData, "binary frames only"))
			return errClosed
		}
	}
}

func (c *gobwasConn) copyPayload(sink io.Writer, h ws.Header) error {
	if h.Length == 0 {
		return nil // the CLI sends empty frames after stdin EOF
	}
	bp := copyPool.Get().(*[]byte)
	defer copyPool.Put(bp)
	buf := *bp
	for off := int64(0); off < h.Length; {
		n, err := c.rd.Read(buf[:min(int64(len(buf)), h.Length-off)])
		if n > 0 {
			ws.Cipher(buf[:n], h.Mask, int(off))
			off += int64(n)
			if _, werr := sink.Write(buf[:n]); werr != nil {
				return werr
			}
		}
		if err != nil {
			if err == io.EOF && off < h.Length {
				err = io.ErrUnexpectedEOF
			}
			if off < h.Length {
				return err
			}
		}
	}
	return nil
}
