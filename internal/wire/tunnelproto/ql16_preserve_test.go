package tunnelproto_test

import (
	"encoding/json"
	"testing"

	"github.com/postern/postern/internal/wire/tunnelproto"
)

// TestQL16ParseEndpointPreserve: the link answer's
// HeaderEndpointPreserveClientIP as the server writes it (%t), and what an
// older server's answer (no header) or a garbled one means: nothing known.
func TestQL16ParseEndpointPreserve(t *testing.T) {
	for _, tc := range []struct {
		in            string
		on, wantKnown bool
	}{
		{"true", true, true},
		{"false", false, true},
		{" true ", true, true},
		{"", false, false},
		{"yes", false, false},
	} {
		on, known := tunnelproto.ParseEndpointPreserve(tc.in)
		if on != tc.on || known != tc.wantKnown {
			t.Errorf("ParseEndpointPreserve(%q) = %v, %v; want %v, %v", tc.in, on, known, tc.on, tc.wantKnown)
		}
	}
}

// TestQL16ControlPreserveSendsFalse: a ControlPreserveClientIP saying
// "does not preserve" carries the false (omitempty would drop a plain
// bool), and the other messages carry no such field.
func TestQL16ControlPreserveSendsFalse(t *testing.T) {
	off := false
	b, _ := json.Marshal(tunnelproto.Control{Type: tunnelproto.ControlPreserveClientIP, PreserveClientIP: &off})
	if want := `{"type":"preserve-client-ip","preserveClientIp":false}`; string(b) != want {
		t.Errorf("encoded %s; want %s", b, want)
	}
	b, _ = json.Marshal(tunnelproto.Control{Type: tunnelproto.ControlVPC, VpcCIDRs: []string{"10.0.0.0/16"}})
	if want := `{"type":"vpc","vpcCidrs":["10.0.0.0/16"]}`; string(b) != want {
		t.Errorf("encoded %s; want %s", b, want)
	}
}
