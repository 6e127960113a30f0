package agent

import (
	"fmt"
	"io"
	"log/slog"
	"net"
	"testing"
	"time"
)

// qe17Link is one link's control stream as the agent's reader sees it:
// the test writes the server's lines into it and closes it when the link
// dies.
type qe17Link struct {
	server  net.Conn
	vpcNets chan []string
	done    chan struct{}
}

func qe17StartLink(a *Agent) *qe17Link {
	server, agentSide := net.Pipe()
	l := &qe17Link{server: server, vpcNets: make(chan []string, 1), done: make(chan struct{})}
	go func() {
		defer close(l.done)
		a.readControl(agentSide, make(chan string, 1), l.vpcNets, newLinkSet(func(string) {}))
	}()
	return l
}

// say writes a preserve-client-ip line and then a VPC line, and waits for
// the VPC list: the reader handles lines in order, so the first one has
// been applied when the list arrives.
func (l *qe17Link) say(t *testing.T, on bool) {
	t.Helper()
	for _, line := range []string{
		fmt.Sprintf(`{"type":"preserve-client-ip","preserveClientIp":%t}`, on),
		`{"type":"vpc","vpcCidrs":["10.9.0.0/16"]}`,
	} {
		_ = l.server.SetWriteDeadline(time.Now().Add(10 * time.Second))
		if _, err := io.WriteString(l.server, line+"\n"); err != nil {
			t.Fatalf("write %s: %v", line, err)
		}
	}
	select {
	case <-l.vpcNets:
	case <-time.After(10 * time.Second):
		t.Fatal("the reader stopped: the VPC list never arrived")
	}
}

// die ends the link and waits for its reader to end.
func (l *qe17Link) die() {
	l.server.Close()
	<-l.done
}

// TestQE17PreserveFollowsTheLiveLinks: two links, A (alive throughout) and
// B (which says a stale value, then dies). What B said must stop counting
// when it dies, so that the agent's view is what the live link says and
// the warning comes when the live link says the endpoint preserves.
// Before (one value for all links): "stale true on a link that dies" gave
// 2 warnings (the last "true" from A was taken for no change) and the view
// after B died was B's word, not A's.
func TestQE17PreserveFollowsTheLiveLinks(t *testing.T) {
	type step struct {
		link string // "A" or "B"
		say  bool
		die  bool
		view bool // the agent's view after the step
	}
	for _, tc := range []struct {
		name  string
		steps []step
		warns int
	}{
		{"stale true on a link that dies, then the live link says true", []step{
			{link: "A", say: true, view: true},
			{link: "A", say: false, view: false},
			{link: "B", say: true, view: true}, // B's answer written before the modify
			{link: "B", die: true, view: false},
			{link: "A", say: true, view: true}, // modified to preserve again: warns
		}, 3},
		{"stale false on a link that dies while the live link says true", []step{
			{link: "A", say: true, view: true},
			{link: "B", say: false, view: true},
			{link: "B", die: true, view: true},
			{link: "A", say: false, view: false},
			{link: "A", say: true, view: true},
		}, 2},
		{"a stale false, then the same link's true: one warning", []step{
			{link: "A", say: true, view: true},
			{link: "B", say: false, view: true},
			{link: "B", say: true, view: true},
		}, 1},
		{"true until every live link says false", []step{
			{link: "A", say: true, view: true},
			{link: "B", say: true, view: true},
			{link: "A", say: false, view: true},
			{link: "B", say: false, view: false},
			{link: "B", say: true, view: true},
		}, 2},
		{"the last link ends: the view stays, a new link saying the same does not warn", []step{
			{link: "A", say: true, view: true},
			{link: "A", die: true, view: true},
			{link: "B", say: true, view: true},
		}, 1},
		{"a link that said nothing ends", []step{
			{link: "A", say: true, view: true},
			{link: "B", die: true, view: true},
		}, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := &ql16Count{}
			a := &Agent{log: slog.New(c), preserveProblem: "no routing"}
			links := map[string]*qe17Link{"A": qe17StartLink(a), "B": qe17StartLink(a)}
			defer func() {
				for _, l := range links {
					l.die()
				}
			}()
			for i, s := range tc.steps {
				l := links[s.link]
				if s.die {
					l.die()
				} else {
					l.say(t, s.say)
				}
				if got := a.endpointPreserves.Load(); got != s.view {
					t.Fatalf("step %d (%+v): the agent believes its endpoint preserves = %v; want %v", i, s, got, s.view)
				}
			}
			c.mu.Lock()
			defer c.mu.Unlock()
			if len(c.warns) != tc.warns {
				t.Fatalf("%d warnings %q; want %d", len(c.warns), c.warns, tc.warns)
			}
		})
	}
}
