package tunnelproto_test

import (
	"bufio"
	"fmt"
	"net/http"
	"reflect"
	"strings"
	"testing"

	"github.com/postern/postern/internal/wire/tunnelproto"
)

// qe17Answer is a link's 101 answer as the server writes it (package
// relay: the header's value with %t), read back as the agent reads it.
func qe17Answer(t *testing.T, on bool) string {
	t.Helper()
	raw := fmt.Sprintf("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: %s\r\n%s: %t\r\n\r\n",
		tunnelproto.UpgradeProtocol, tunnelproto.HeaderEndpointPreserveClientIP, on)
	resp, err := http.ReadResponse(bufio.NewReader(strings.NewReader(raw)), nil)
	if err != nil {
		t.Fatalf("read the server's answer: %v", err)
	}
	return resp.Header.Get(tunnelproto.HeaderEndpointPreserveClientIP)
}

// FuzzParseEndpointPreserve reads arbitrary HeaderEndpointPreserveClientIP
// values: it never panics; what it does not know says "does not
// preserve"; what it knows reads back the same through the answer the
// server writes for it.
func FuzzParseEndpointPreserve(f *testing.F) {
	for _, s := range []string{"true", "false", " true ", "TRUE", "False", "1", "0", "t", "", "yes", "true, false", "tru", "\x00", "truе"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		on, known := tunnelproto.ParseEndpointPreserve(s)
		if !known {
			if on {
				t.Fatalf("ParseEndpointPreserve(%q) = true, not known", s)
			}
			return
		}
		if again, ok := tunnelproto.ParseEndpointPreserve(qe17Answer(t, on)); again != on || !ok {
			t.Fatalf("ParseEndpointPreserve(%q) = %v; what the server writes for it reads %v, %v", s, on, again, ok)
		}
	})
}

// FuzzParseFeatures reads arbitrary HeaderAgentFeatures values: it never
// panics, keeps at most 32 names of 1 to 64 bytes with no comma and no
// surrounding space, and what it read reads back the same once written.
func FuzzParseFeatures(f *testing.F) {
	f.Add(tunnelproto.FormatFeatures([]string{tunnelproto.FeatureProxyV2, tunnelproto.FeaturePreserveClientIP}))
	f.Add(" proxy-v2 ,, future-thing ")
	f.Add(strings.Repeat("x,", 40))
	f.Add(strings.Repeat("y", 65))
	f.Add("\u00a0a\u00a0,\u2028")
	f.Fuzz(func(t *testing.T, s string) {
		fs := tunnelproto.ParseFeatures(s)
		if len(fs) > 32 {
			t.Fatalf("%d names from %q", len(fs), s)
		}
		for _, name := range fs {
			if name == "" || len(name) > 64 || strings.Contains(name, ",") || strings.TrimSpace(name) != name {
				t.Fatalf("name %q from %q", name, s)
			}
		}
		if again := tunnelproto.ParseFeatures(tunnelproto.FormatFeatures(fs)); !reflect.DeepEqual(again, fs) {
			t.Fatalf("%q read %q, written and read again %q", s, fs, again)
		}
	})
}
