//go:build unix

package refused_test

import (
	"errors"
	"net"
	"syscall"
	"testing"

	"github.com/postern/postern/internal/testutil/refused"
)

// TestAddrRefuses: a connection to the address is refused, and the port
// cannot be taken by a listener while the test holds it.
func TestAddrRefuses(t *testing.T) {
	addr := refused.Addr(t)
	if c, err := net.Dial("tcp", addr); !errors.Is(err, syscall.ECONNREFUSED) {
		if c != nil {
			c.Close()
		}
		t.Fatalf("dial %s: %v, want connection refused", addr, err)
	}
	if ln, err := net.Listen("tcp", addr); err == nil {
		ln.Close()
		t.Fatalf("listened on the held address %s", addr)
	}
}
