package ctapi

import (
	"encoding/base64"
	"testing"
	"time"
)

// FuzzParseToken feeds LookupEvents' NextToken parser (a request field
// any signed caller sets) arbitrary text. Properties: it never panics;
// what it accepts has an event id and reads the same after token writes
// it again; and every token the server hands out reads back as the time
// and id it was made of. (Refusals are the caller's: LookupEvents turns
// any error into InvalidNextTokenException.) Written by QG (s17), kept by
// QK.
func FuzzParseToken(f *testing.F) {
	f.Add(token(time.Date(2026, 12, 7, 14, 0, 0, 123456000, time.UTC), "0f4c2a9e-1d2b-4c7e-9a51-6d1f1d7e2b10"), int64(0), "id")
	f.Add("", int64(-1), "a|b")
	f.Add("!!!not base64", int64(1<<62), "")
	for _, raw := range []string{"x|", "|id", "-1|id", "+5|id", "9223372036854775807|id", "-9223372036854775808|i|d", "12", "12|"} {
		f.Add(base64.RawURLEncoding.EncodeToString([]byte(raw)), int64(len(raw)), raw)
	}
	f.Add(base64.StdEncoding.EncodeToString([]byte("1|id")), int64(7), "x") // padded: not the server's form
	f.Fuzz(func(t *testing.T, s string, us int64, id string) {
		if tm, got, err := parseToken(s); err == nil {
			if got == "" {
				t.Fatalf("parseToken(%q) accepted an empty event id", s)
			}
			tm2, got2, err := parseToken(token(tm, got))
			if err != nil || !tm2.Equal(tm) || got2 != got {
				t.Fatalf("parseToken(%q) = %v, %q; written again it reads %v, %q, %v", s, tm, got, tm2, got2, err)
			}
		}
		if id == "" {
			return // the server never makes a token without an event id
		}
		want := time.UnixMicro(us)
		tm, got, err := parseToken(token(want, id))
		if err != nil || !tm.Equal(want) || got != id {
			t.Fatalf("token(%v, %q) reads back as %v, %q, %v", want, id, tm, got, err)
		}
	})
}
