package httpedge_test

import (
	"errors"
	"net"
	"testing"
	"time"

	"github.com/postern/postern/internal/server/httpedge"
)

// TestMerge accepts from an IPv4 and an IPv6 listener through one merged
// listener, and closes both with it.
func TestMerge(t *testing.T) {
	var lns []net.Listener
	for _, addr := range []string{"127.0.0.1:0", "[::1]:0"} {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		lns = append(lns, ln)
	}
	m := httpedge.Merge(lns)
	defer m.Close()
	if m.Addr().String() != lns[0].Addr().String() {
		t.Errorf("Addr %s, want the first listener's %s", m.Addr(), lns[0].Addr())
	}
	for _, ln := range lns {
		c, err := net.DialTimeout("tcp", ln.Addr().String(), 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		got, err := m.Accept()
		if err != nil {
			t.Fatal(err)
		}
		if got.LocalAddr().String() != ln.Addr().String() {
			t.Errorf("accepted a connection to %s, want one to %s", got.LocalAddr(), ln.Addr())
		}
		got.Close()
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Accept(); !errors.Is(err, net.ErrClosed) {
		t.Errorf("Accept after Close: %v, want net.ErrClosed", err)
	}
	for _, ln := range lns {
		if c, err := net.DialTimeout("tcp", ln.Addr().String(), 5*time.Second); err == nil {
			c.Close()
			t.Errorf("%s still accepts after Close", ln.Addr())
		}
	}
}

// TestMergeOne returns a lone listener itself.
func TestMergeOne(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	if m := httpedge.Merge([]net.Listener{ln}); m != ln {
		t.Errorf("Merge of one listener returned %T, want the listener itself", m)
	}
}
