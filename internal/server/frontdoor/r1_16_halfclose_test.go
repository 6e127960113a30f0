package frontdoor_test

import (
	"encoding/json"
	"io"
	"testing"
	"time"

	"github.com/postern/postern/internal/store"
	"github.com/postern/postern/internal/testutil/tunneltest"
)

// A client that half-closes (with or without bytes before) and a target
// that reads to its EOF, then answers and closes: the target gets the
// client's bytes and then its EOF, the client the answer and then its
// EOF, and the tunnel ends within tunneltest.EventBound (well under the
// periodic re-check) as Normal, with both byte counts on record, with
// either kind of agent. With a separate agent the server's EOF frame is
// applied to the target by the agent's link receive loop (s16 QD) or by
// the tunnel's goroutine, whichever has it: the outcome is the same.
func TestR1_16HalfCloseThenTheTargetAnswersAndCloses(t *testing.T) {
	for _, tc := range []struct {
		name   string
		remote bool
		sent   string // by the client before its half-close
	}{
		{"embedded agent, bytes then EOF", false, "ping"},
		{"remote agent, bytes then EOF", true, "ping"},
		{"remote agent, EOF first", true, ""},
		{"remote agent, many bytes then EOF", true, string(make([]byte, 300_000))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			const answer = "pong"
			e := startAll(t)
			target, ln, agentClosed := qaTarget(t, e, tc.remote)
			heard := make(chan []byte, 1)
			go func() {
				c, err := ln.Accept()
				if err != nil {
					heard <- nil
					return
				}
				defer c.Close()
				b, _ := io.ReadAll(c) // to the tunnel's EOF
				heard <- b
				_, _ = c.Write([]byte(answer))
			}()
			tun, err := e.Dialer(e.Admin).Dial(t.Context(), target)
			if err != nil {
				t.Fatal(err)
			}
			defer tun.Close()
			if tc.sent != "" {
				if _, err := tun.Write([]byte(tc.sent)); err != nil {
					t.Fatal(err)
				}
			}
			if err := tun.CloseWrite(); err != nil {
				t.Fatal(err)
			}
			got := make(chan []byte, 1)
			go func() {
				b, _ := io.ReadAll(tun) // to the target's close
				got <- b
			}()
			select {
			case b := <-heard:
				if string(b) != tc.sent {
					t.Fatalf("the target got %d bytes before its EOF, want the %d sent", len(b), len(tc.sent))
				}
			case <-time.After(tunneltest.EventBound):
				t.Fatal("the target got no EOF after the client's half-close")
			}
			select {
			case b := <-got:
				if string(b) != answer {
					t.Fatalf("the client read %q, want the target's answer %q then its EOF", b, answer)
				}
			case <-time.After(tunneltest.EventBound):
				t.Fatal("the client got no EOF after the target's close")
			}
			select {
			case <-agentClosed:
			case <-time.After(tunneltest.EventBound):
				t.Fatal("the agent did not close the tunnel")
			}
			evs := e.WaitEvents(store.EventQuery{EventName: "CloseTunnel"}, tunneltest.EventBound, func(evs []store.Event) bool { return len(evs) == 1 })
			var rec struct {
				ServiceEventDetails struct {
					Reason            string
					BytesIn, BytesOut int64
				}
			}
			if err := json.Unmarshal([]byte(evs[0].Body), &rec); err != nil {
				t.Fatal(err)
			}
			d := rec.ServiceEventDetails
			if d.Reason != "Normal" || d.BytesIn != int64(len(tc.sent)) || d.BytesOut != int64(len(answer)) {
				t.Fatalf("CloseTunnel %+v, want Normal, %d bytes in, %d out", d, len(tc.sent), len(answer))
			}
		})
	}
}
