package netutil

import (
	"net"
	"testing"
)

// wrapper is a connection wrapper that says what it wraps, as crypto/tls's
// Conn and Postern's wrappers do.
type wrapper struct{ net.Conn }

func (w wrapper) NetConn() net.Conn { return w.Conn }

// opaque wraps without saying what.
type opaque struct{ net.Conn }

func TestBeneath(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	tcp := c.(*net.TCPConn)
	buffered := &BufferedConn{Conn: wrapper{tcp}}
	tests := []struct {
		name string
		c    net.Conn
		want net.Conn // the TCP socket found, or nil
	}{
		{"the socket itself", tcp, tcp},
		{"one wrapper", wrapper{tcp}, tcp},
		{"wrappers over wrappers", wrapper{buffered}, tcp},
		{"a wrapper that does not say what it wraps", wrapper{opaque{tcp}}, nil},
		{"too deep", wrapper{wrapper{wrapper{wrapper{wrapper{wrapper{wrapper{wrapper{wrapper{tcp}}}}}}}}}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := TCPBeneath(tt.c)
			if got != tt.want {
				t.Errorf("TCPBeneath = %v, want %v", got, tt.want)
			}
			if b, ok := Beneath[*BufferedConn](tt.c); ok != (tt.c == net.Conn(wrapper{buffered})) || (ok && b != buffered) {
				t.Errorf("Beneath[*BufferedConn] = %v, %v", b, ok)
			}
		})
	}
}
