package frontdoor_test

import (
	"context"
	"runtime"
	"strings"
	"testing"

	"github.com/postern/postern/internal/client"
	"github.com/postern/postern/internal/testutil/tunneltest"
)

// sh19LiveRequestLines counts the request lines net/http read
// (net/textproto's ReadLine in net/http.readRequest) that are still
// reachable, from the allocation profile as of the last collection
// (runtime.MemProfile; runtime.MemProfileRate is 1 meanwhile).
func sh19LiveRequestLines() int64 {
	// A profile's in-use figures are those of the collection before the
	// last one: two collections make them today's.
	runtime.GC()
	runtime.GC()
	var recs []runtime.MemProfileRecord
	for range 5 { // the table may grow between the two calls
		n, _ := runtime.MemProfile(nil, true)
		recs = make([]runtime.MemProfileRecord, n+50)
		if n, ok := runtime.MemProfile(recs, true); ok {
			recs = recs[:n]
			break
		}
		recs = nil
	}
	var live int64
	for _, r := range recs {
		frames := runtime.CallersFrames(r.Stack())
		first, inRequest := "", false
		for {
			fr, more := frames.Next()
			if first == "" && !strings.HasPrefix(fr.Function, "runtime.") {
				first = fr.Function
			}
			if fr.Function == "net/http.readRequest" {
				inRequest = true
			}
			if !more {
				break
			}
		}
		if first == "net/textproto.(*Reader).ReadLine" && inRequest {
			live += r.InUseObjects()
		}
	}
	return live
}

// TestSH19OpenTunnelsHoldNoRequestLine: an open tunnel keeps no string
// of its openTunnel request (request.detach): with n tunnels open and
// idle, at most a few of net/http's request lines stay reachable (the
// API calls' and those of connections net/http still serves), not one
// per tunnel. The request line is the signed URL (about 1 KiB on a real
// client). Before detach copied the access key id, the user agent and
// the query's values, each tunnel held its line (n live lines).
func TestSH19OpenTunnelsHoldNoRequestLine(t *testing.T) {
	old := runtime.MemProfileRate
	runtime.MemProfileRate = 1
	t.Cleanup(func() { runtime.MemProfileRate = old })
	e := startAll(t)
	echo := tunneltest.Echo(t)
	d := e.Dialer(e.Admin)
	before := sh19LiveRequestLines()
	const n = 40
	tuns := make([]*client.Tunnel, 0, n)
	t.Cleanup(func() {
		for _, tun := range tuns {
			tun.Close()
		}
	})
	for range n {
		tun, err := d.Dial(context.Background(), e.Local(echo.Port))
		if err != nil {
			t.Fatal(err)
		}
		tuns = append(tuns, tun)
	}
	// Each tunnel carries a byte both ways: it is open and running, its
	// handler long returned.
	for _, tun := range tuns {
		if err := tunneltest.RoundTrip(tun, []byte("x")); err != nil {
			t.Fatal(err)
		}
	}
	live := sh19LiveRequestLines()
	t.Logf("live request lines: %d before the tunnels, %d with %d tunnels open", before, live, n)
	if live-before > n/4 {
		t.Errorf("%d request lines more are reachable with %d tunnels open (%d before): the tunnels keep them", live-before, n, before)
	}
}
