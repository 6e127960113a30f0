package agent

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/postern/postern/internal/wire/linkmux"
)

// r1Link is one link as connect makes it, on a real loopback TCP
// connection: the server's session (Opener) and the agent's (Acceptor),
// the agent's control stream opened, the link's word recorded
// (linkSaidPreserve) and readControl reading it; srv is the server's end
// of the control stream.
type r1Link struct {
	agentSess, srvSess *linkmux.Session
	ctrl, srv          net.Conn
	vpcNets            chan []string
	done               chan struct{}
}

// r1Dial makes a link (r1Link) to the server listening on ln.
func r1Dial(ln net.Listener, a *Agent, say *bool) (*r1Link, error) {
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			close(accepted)
			return
		}
		accepted <- c
	}()
	raw, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		return nil, err
	}
	srvRaw, ok := <-accepted
	if !ok {
		raw.Close()
		return nil, fmt.Errorf("accept failed")
	}
	l := &r1Link{vpcNets: make(chan []string, 1), done: make(chan struct{})}
	l.srvSess, _ = linkmux.Opener(srvRaw, linkmux.Config{})
	l.agentSess, _ = linkmux.Acceptor(raw, linkmux.Config{})
	if l.ctrl, err = l.agentSess.Open(context.Background()); err != nil {
		return nil, err
	}
	if say != nil { // as connect: the link's answer, before its reader starts
		a.linkSaidPreserve(l.ctrl, *say)
	}
	go func() {
		defer close(l.done)
		a.readControl(l.ctrl, make(chan string, 1), l.vpcNets, newLinkSet(func(string) {}))
	}()
	// The server takes the control stream (a line makes the agent's
	// stream known to it).
	if _, err := io.WriteString(l.ctrl, "\n"); err != nil {
		return nil, err
	}
	if l.srv, err = l.srvSess.Accept(); err != nil {
		return nil, err
	}
	return l, nil
}

// tell writes a preserve-client-ip line on the server's end, then a VPC
// line, and waits for the VPC list: the reader handles lines in order, so
// the first one has been applied when the list arrives.
func (l *r1Link) tell(on bool) error {
	_ = l.srv.SetWriteDeadline(time.Now().Add(10 * time.Second))
	if _, err := fmt.Fprintf(l.srv, `{"type":"preserve-client-ip","preserveClientIp":%t}`+"\n"+`{"type":"vpc","vpcCidrs":["10.9.0.0/16"]}`+"\n", on); err != nil {
		return err
	}
	select {
	case <-l.vpcNets:
		return nil
	case <-time.After(10 * time.Second):
		return fmt.Errorf("the reader stopped: the VPC list never arrived")
	}
}

func (a *Agent) r1Words() int {
	a.preserveMu.Lock()
	defer a.preserveMu.Unlock()
	return len(a.linkPreserve)
}

// TestR117LinkWordsEndWithTheirLinks: an agent that reconnects thousands
// of times (4 link loops at once, each link saying true or false in its
// answer and in a control message) keeps no word of a dead link: the map
// of what live links said is empty once every link has ended, whether the
// link ended from the agent's side (connect's sess.Close) or the server's
// (the TCP connection closed), and a link whose answer said nothing
// leaves nothing either. Run with -race: linkSaidPreserve and linkEnded
// from many readers and link loops at once.
func TestR117LinkWordsEndWithTheirLinks(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var lnMu sync.Mutex // one dial at a time on the shared listener
	a := &Agent{log: slog.New(slog.DiscardHandler), preserveProblem: "no routing"}
	const loops, each = 4, 250
	var wg sync.WaitGroup
	for g := range loops {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				on := (g+i)%2 == 0
				var say *bool
				if i%5 != 4 {
					say = &on
				}
				lnMu.Lock()
				l, err := r1Dial(ln, a, say)
				lnMu.Unlock()
				if err != nil {
					t.Errorf("loop %d, link %d: %v", g, i, err)
					return
				}
				if err := l.tell(!on); err != nil {
					t.Errorf("loop %d, link %d: %v", g, i, err)
					return
				}
				if i%2 == 0 {
					l.agentSess.Close() // connect returned: its deferred sess.Close
				} else {
					l.srvSess.Close() // the server or the network ended the link
				}
				select {
				case <-l.done:
				case <-time.After(10 * time.Second):
					t.Errorf("loop %d, link %d: the control reader did not end with its link", g, i)
					return
				}
				l.agentSess.Close()
				l.srvSess.Close()
			}
		}()
	}
	wg.Wait()
	if n := a.r1Words(); n != 0 {
		t.Fatalf("after %d links, all ended, the agent keeps %d links' words; want 0", loops*each, n)
	}
}

// TestR117LiveLinkWordsCount: while links live, their words count:
// the view is true exactly while one live link says true, and it warns
// once per change to true, with real links (readControl on linkmux
// streams over TCP) ended from either side.
func TestR117LiveLinkWordsCount(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	c := &ql16Count{}
	a := &Agent{log: slog.New(c), preserveProblem: "no routing"}
	yes, no := true, false
	dial := func(say *bool) *r1Link {
		t.Helper()
		l, err := r1Dial(ln, a, say)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { l.agentSess.Close(); l.srvSess.Close() })
		return l
	}
	tell := func(l *r1Link, on bool) {
		t.Helper()
		if err := l.tell(on); err != nil {
			t.Fatal(err)
		}
	}
	A := dial(&yes) // warns (1)
	B := dial(&no)
	if !a.endpointPreserves.Load() || a.r1Words() != 2 {
		t.Fatalf("view %v, %d words; want true, 2", a.endpointPreserves.Load(), a.r1Words())
	}
	A.srvSess.Close() // A's server goes away
	<-A.done
	if a.endpointPreserves.Load() || a.r1Words() != 1 {
		t.Fatalf("after A ended: view %v, %d words; want false (B says false), 1", a.endpointPreserves.Load(), a.r1Words())
	}
	tell(B, true) // warns (2)
	A2 := dial(&no)
	if !a.endpointPreserves.Load() {
		t.Fatal("B said true and lives: the view must be true")
	}
	B.agentSess.Close()
	<-B.done
	if a.endpointPreserves.Load() {
		t.Fatal("B (true) ended, A2 says false: the view must be false")
	}
	tell(A2, true)  // a change to true: warns (3)
	tell(A2, false) // all false
	tell(A2, true)  // warns (4)
	tell(A2, true)  // no change
	A2.agentSess.Close()
	<-A2.done
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.warns) != 4 {
		t.Fatalf("%d warnings; want 4", len(c.warns))
	}
	if n := a.r1Words(); n != 0 {
		t.Fatalf("%d words kept after every link ended; want 0", n)
	}
}
