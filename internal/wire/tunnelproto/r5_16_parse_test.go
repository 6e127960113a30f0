package tunnelproto_test

import (
	"net/http"
	"testing"

	"github.com/postern/postern/internal/wire/tunnelproto"
)

// TestR516EndpointPreserveHeader: the 101 answer's
// HeaderEndpointPreserveClientIP as the agent reads it (http.Header.Get on
// a parsed response): any case of the header's name; absent, empty or
// garbled values mean "not told"; of repeated values the first counts.
func TestR516EndpointPreserveHeader(t *testing.T) {
	for _, tc := range []struct {
		name      string
		key       string
		values    []string
		on, known bool
	}{
		{"absent", "", nil, false, false},
		{"true", "Postern-Endpoint-Preserve-Client-Ip", []string{"true"}, true, true},
		{"false", "Postern-Endpoint-Preserve-Client-Ip", []string{"false"}, false, true},
		{"lower-case name", "postern-endpoint-preserve-client-ip", []string{"true"}, true, true},
		{"upper-case value", "Postern-Endpoint-Preserve-Client-Ip", []string{"TRUE"}, true, true},
		{"spaces", "Postern-Endpoint-Preserve-Client-Ip", []string{"  false "}, false, true},
		{"empty", "Postern-Endpoint-Preserve-Client-Ip", []string{""}, false, false},
		{"garbage", "Postern-Endpoint-Preserve-Client-Ip", []string{"yes please"}, false, false},
		{"list", "Postern-Endpoint-Preserve-Client-Ip", []string{"true, false"}, false, false},
		{"repeated", "Postern-Endpoint-Preserve-Client-Ip", []string{"true", "false"}, true, true},
		{"repeated garbage first", "Postern-Endpoint-Preserve-Client-Ip", []string{"x", "true"}, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := http.Header{}
			for _, v := range tc.values {
				h.Add(tc.key, v)
			}
			on, known := tunnelproto.ParseEndpointPreserve(h.Get(tunnelproto.HeaderEndpointPreserveClientIP))
			if on != tc.on || known != tc.known {
				t.Fatalf("ParseEndpointPreserve(%q) = %v, %v; want %v, %v", h.Get(tunnelproto.HeaderEndpointPreserveClientIP), on, known, tc.on, tc.known)
			}
		})
	}
}
