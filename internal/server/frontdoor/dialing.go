package frontdoor

import (
	"net/http"
	"sync/atomic"
	"time"

	"github.com/postern/postern/internal/store"
	"github.com/postern/postern/internal/util/bufpool"
	"github.com/postern/postern/internal/util/idlemem"
	"github.com/postern/postern/internal/wire/tunnelproto"
)

// ReasonTerminated labels (metrics) a tunnel ended while its dial ran,
// before its first byte, by Terminate (TerminateTunnel, shutdown) or by
// the re-check of its access (revokeDialing).
const ReasonTerminated = "terminated"

// shuttingDown is the close message of the tunnels Shutdown ends, open or
// still dialling.
const shuttingDown = "The Postern server is shutting down"

// dialingTunnel is a tunnel answered 101 whose agent still dials: its
// OpenTunnel record (with its tunnel id) commits meanwhile, so it is on
// record as open and must be listed and terminable (Tunnels, Terminate)
// before it joins f.tunnels. Otherwise a TerminateTunnel in that window
// answers "not found" and the tunnel then opens and carries bytes.
type dialingTunnel struct {
	req      *request // its fields Tunnels reads are set before, and not written while, it dials
	agentID  string   // the agent its record names
	upgraded time.Time
	dial     *pendingDial
	end      *Refusal // why Terminate ended it (f.mu); nil while it was not
}

// info describes the tunnel as Tunnels lists it: no byte flowed yet.
func (d *dialingTunnel) info() TunnelInfo {
	p := ""
	if d.req.principal != nil {
		p = d.req.principal.ARN
	}
	return TunnelInfo{TunnelID: d.req.tunnelID, EndpointID: d.req.endpoint.EndpointID, AgentID: d.agentID, Principal: p,
		SourceIP: d.req.sourceIP, Address: d.req.addr.String(), Port: d.req.port, Started: d.upgraded,
		Deadline: d.upgraded.Add(d.req.duration)}
}

// addDialing lists req's tunnel, answered 101 at upgraded and named after
// agentID (the agent its record names), while its dial runs. Listed once
// Shutdown began (decided just before it), it is in none of the lists
// Shutdown's Terminate ended: its dial ends here, as that Terminate ends
// a dialing tunnel, rather than hold Shutdown up to its timeout.
//
// A change the store counted since the open's checks began (req.changes)
// may be a revocation those checks did not see and that the re-check
// (revalidate) saw before the tunnel was listed here, and so without it:
// nothing would re-decide the tunnel until the next change or
// RecheckInterval (30 s). The tunnel is then re-decided at once, on a
// goroutine of its own while its record commits and its agent dials, and
// the wait addDialing returns (never nil) waits for that decision: the
// caller waits before the tunnel's first byte, so that a revoked tunnel
// ends before it (revokeDialing). A change counted after the count read
// here finds the tunnel listed, and revalidate re-decides it.
func (f *FrontDoor) addDialing(req *request, agentID string, upgraded time.Time, dial *pendingDial) (wait func()) {
	hook("listing")
	d := &dialingTunnel{req: req, agentID: agentID, upgraded: upgraded, dial: dial}
	f.mu.Lock()
	if f.dialing == nil {
		f.dialing = map[string]*dialingTunnel{}
	}
	f.dialing[req.tunnelID] = d
	stopping := f.stopping
	if stopping {
		d.end = refuse(http.StatusForbidden, tunnelproto.CodeServerStop, ReasonTerminated, shuttingDown)
	} else {
		f.startSweepsLocked() // the re-check must see it while it dials
		// The re-check below, if it runs, counts in f.wg: the open may
		// leave without waiting for it (dial failed, client gone), and
		// Shutdown must not return (the server then closes the store)
		// while it reads the store. Counted here, under f.mu where
		// Shutdown sets stopping, so the Add cannot race with its Wait.
		f.wg.Add(1)
	}
	f.mu.Unlock()
	if stopping {
		dial.end()
		return noWait
	}
	if f.changes() == req.changes {
		f.wg.Done()
		hook("listed")
		return noWait
	}
	decided := make(chan struct{})
	go func() {
		defer f.wg.Done()
		defer close(decided)
		f.decideAgain([]*tunnel{{req: req}}, f.cfg.Now()) // a stand-in, as recheckList's
		hook("rechecked-at-listing")
	}()
	return func() { <-decided }
}

// noWait is addDialing's wait when nothing is re-decided.
func noWait() {}

// changes returns the store's change count (the count revalidate
// watches, as store.CacheCounter gives it for ChangeFeed freshness: on a
// store shared by replicas it follows their writes through the change
// feed and moves at every read while the feed is down), 0 for a store
// without one: its re-check runs every RevalidateInterval*5 whatever
// changed.
func (f *FrontDoor) changes() uint64 {
	if cc := store.CacheCounter(f.cfg.Store, store.ChangeFeed); cc != nil {
		return cc.Changes()
	}
	return 0
}

// testHook, set by tests only, runs at named points of the open and of
// the re-check ("listing": a tunnel whose checks passed is about to be
// listed; "listed": it was listed, nothing counted since its checks
// began; "revalidate": the re-check's goroutine starts; "recheck":
// revalidate found a re-check due (the change count moved, or
// RecheckInterval passed) and starts it; "rechecked": it re-decided the
// listed tunnels; "rechecked-at-listing": addDialing re-decided a
// tunnel): a test holds
// the front door there to make certain an interleaving that only timing
// decides otherwise.
var testHook atomic.Pointer[func(point string)]

// hook runs the test hook, if any, at point.
func hook(point string) {
	if h := testHook.Load(); h != nil {
		(*h)(point)
	}
}

// startSweepsLocked starts, with the first tunnel, the keep-alive sweep,
// the re-check of access (revalidate) and the release of idle memory.
// f.mu is held.
func (f *FrontDoor) startSweepsLocked() {
	if !f.pinging {
		f.pinging = true
		go f.keepalive()
		// The watch starts here, under f.mu and before the caller reads
		// the change count again: a change counted after that read is
		// one it sees. Started on the goroutine, it could start after
		// such a change, and then neither that read nor revalidate would
		// re-decide the tunnel before RecheckInterval.
		go f.revalidate(store.NewChangeWatch(f.cfg.Store, f.cfg.Now(), RecheckInterval, RevalidateInterval*5))
		f.memRelease = idlemem.New(0, 0, bufpool.Lends, nil)
	}
}

// recheckList returns what the re-check of access (recheck) decides: the
// open tunnels, and a stand-in (nil conn) for each tunnel whose dial runs
// and that no Terminate ended. One f.mu hold: a tunnel that joined
// f.tunnels between a look at each would be in neither.
func (f *FrontDoor) recheckList() []*tunnel {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]*tunnel, 0, len(f.tunnels)+len(f.dialing))
	for _, t := range f.tunnels {
		out = append(out, t)
	}
	for _, d := range f.dialing {
		if d.end == nil {
			out = append(out, &tunnel{req: d.req})
		}
	}
	return out
}

// revokeDialing ends a tunnel whose access went away and that was dialing
// when recheck listed it: its dial ends and it closes before its first
// byte, Revoked. A tunnel whose dial answered while it was decided is
// open by now, and is revoked as open ones are.
func (f *FrontDoor) revokeDialing(id, why string) {
	f.mu.Lock()
	d := f.terminateDialingLocked(id, tunnelproto.CodeRevoked, "Access was revoked: "+why)
	t := f.tunnels[id]
	f.mu.Unlock()
	switch {
	case d != nil:
		d.end()
	case t != nil:
		t.logInfo("tunnel revoked", "reason", why)
		t.revoke(why)
	}
}

// takeDialingLocked unlists a dialing tunnel and returns why Terminate
// ended it (nil: it did not). f.mu is held: the tunnel joins f.tunnels
// under the same hold, so no Terminate misses it in between.
func (f *FrontDoor) takeDialingLocked(id string) *Refusal {
	d := f.dialing[id]
	if d == nil {
		return nil
	}
	delete(f.dialing, id)
	return d.end
}

// takeDialing is takeDialingLocked for a tunnel that ends at its dial.
func (f *FrontDoor) takeDialing(id string) *Refusal {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.takeDialingLocked(id)
}

// terminateDialingLocked marks a dialing tunnel ended (the first end
// wins: the close's reason and message) and returns its dial, which the
// caller ends once f.mu is released: its tunnel then ends before its
// first byte, on record with that reason (failedOpen). Nil when id is not
// dialing. f.mu is held.
func (f *FrontDoor) terminateDialingLocked(id, reason, message string) *pendingDial {
	d := f.dialing[id]
	if d == nil {
		return nil
	}
	if d.end == nil {
		d.end = refuse(http.StatusForbidden, reason, ReasonTerminated, "%s", message)
	}
	return d.dial
}
