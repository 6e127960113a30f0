package tunnelbench

import (
	"crypto/tls"
	"net"
	"os"

	"github.com/postern/postern/internal/util/sockio"
	"github.com/postern/postern/internal/wire/tlsbatch"
)

// The tuned relay floor (relayBatchEnv "tuned"): the same chain with the
// socket tools Postern's own path uses, and still no Postern protocol
// code (no WebSocket, no link multiplexer, no authentication, no
// records): tlsbatch beneath every tls.Conn (the records of one write in
// one write(2)), sockio for the plain TCP sides (raw non-blocking system
// calls, which do not wake the runtime's sysmon), and drainHeld on
// TLS reads. Without them the chain pays system-call and wake-up costs
// that Postern does not, and is no floor for it: s16 R2 measured Postern
// below the plain and the batched chain's CPU per GB, and 1.12–1.19x the
// tuned one's.

// relayTuned tells whether this relay hop is a tuned one.
func relayTuned() bool { return os.Getenv(relayBatchEnv) == "tuned" }

// tunedTLS is a TLS connection over a tlsbatch.Conn, handshake done.
type tunedTLS struct {
	*tls.Conn
	tb *tlsbatch.Conn
}

// Write sends p's records in one write(2) when they are several, as
// Postern's tunnel writes do (tlsbatch.Conn.Send).
func (c *tunedTLS) Write(p []byte) (int, error) {
	var n int
	err := c.tb.Send(len(p), func() error {
		var err error
		n, err = c.Conn.Write(p)
		return err
	})
	return n, err
}

// tunedTCP is a plain TCP side read and written through sockio.
type tunedTCP struct {
	*net.TCPConn
	s sockio.Socket
}

func (c tunedTCP) Read(p []byte) (int, error)  { return c.s.Read(p) }
func (c tunedTCP) Write(p []byte) (int, error) { return c.s.Write(p) }

// wrapTuned makes raw a tuned hop's side: TLS (server or client, handshake
// done) or plain TCP.
func wrapTuned(raw net.Conn, isTLS bool, cfg *tls.Config, server bool) (net.Conn, error) {
	if !isTLS {
		return tunedTCP{TCPConn: raw.(*net.TCPConn), s: sockio.Of(raw)}, nil
	}
	tb := tlsbatch.Wrap(raw)
	c := tls.Client(tb, cfg)
	if server {
		c = tls.Server(tb, cfg)
	}
	if err := c.Handshake(); err != nil {
		return nil, err
	}
	return &tunedTLS{Conn: c, tb: tb}, nil
}

// dialTuned dials the next hop as a tuned hop's side.
func dialTuned(next string, isTLS bool, cfg *tls.Config) (net.Conn, error) {
	raw, err := net.Dial("tcp", next)
	if err != nil {
		return nil, err
	}
	c, err := wrapTuned(raw, isTLS, cfg, false)
	if err != nil {
		raw.Close()
		return nil, err
	}
	return c, nil
}
