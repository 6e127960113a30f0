package webterm_test

import (
	"testing"

	"golang.org/x/crypto/ssh"
)

// TestR515ConnectedConfirmsInputAcks: the connected message says whether
// the server will send input-taken, true only for a page that asked
// (inputAcks in its open message). The page waits for input-taken only
// when it is confirmed: a server that does not know the message (an older
// replica behind the same address) ignores inputAcks, and a page that
// waited for acknowledgements that never come held every keystroke after
// its first 512 KiB for good. Before s15 R5 the connected message never
// said so.
func TestR515ConnectedConfirmsInputAcks(t *testing.T) {
	f := newFixture(t)
	fp := ssh.FingerprintSHA256(f.sshd.HostKey)
	for _, c := range []struct {
		name string
		ask  bool
	}{
		{"page asks for acks", true},
		{"page does not ask", false},
	} {
		t.Run(c.name, func(t *testing.T) {
			b, _, err := f.dial(t, "/console/api/terminal", f.header("alice"))
			if err != nil {
				t.Fatalf("terminal WebSocket: %v", err)
			}
			open := map[string]any{"csrf": "csrf-alice", "instanceId": f.instance, "osUser": f.osUser, "port": f.sshd.Port, "cols": 80, "rows": 24}
			if c.ask {
				open["inputAcks"] = true
			}
			b.sendJSON(open)
			hk := b.expect("hostkey")
			if hk["known"] != true {
				b.sendJSON(map[string]any{"type": "trust-host-key", "fingerprint": fp})
			}
			got := b.expect("connected")
			v, present := got["inputAcks"]
			switch {
			case c.ask && v != true:
				t.Errorf("connected %v: want inputAcks true for a page that asked", got)
			case !c.ask && present:
				t.Errorf("connected %v: want no inputAcks for a page that did not ask", got)
			}
			b.echo(marker())
		})
	}
}
