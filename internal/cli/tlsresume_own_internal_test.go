package cli

import (
	"crypto/tls"
	"testing"
)

// HasOwn counts only a session stored for the name itself; Get still lends
// the latest session to another name.
func TestSharedSessionsHasOwn(t *testing.T) {
	c := newSharedSessions()
	if c.HasOwn("api.example") {
		t.Fatal("an empty cache has a session")
	}
	s := &tls.ClientSessionState{}
	c.Put("api.example", s)
	cases := []struct {
		name      string
		own, lent bool
	}{
		{"api.example", true, true},
		{"eice-0123.example", false, true},
	}
	for _, tc := range cases {
		got, ok := c.Get(tc.name)
		if c.HasOwn(tc.name) != tc.own || (ok && got == s) != tc.lent {
			t.Errorf("%s: HasOwn %v, Get gives the session %v; want %v, %v", tc.name, c.HasOwn(tc.name), ok && got == s, tc.own, tc.lent)
		}
	}
}
