package sigv4

import (
	"strings"
	"testing"
	"time"
)

// dateCases are X-Amz-Date and scope-date texts, valid and not: the
// allocation-free parsers must accept exactly what time.Parse accepts,
// with the same instant.
var dateCases = []string{
	"20261206T055218Z", "20000229T235959Z", "19990228T000000Z", "00010101T000000Z", "99991231T235959Z",
	"20260229T000000Z", // no such day
	"20261131T120000Z", // no such day
	"20261200T120000Z", "20261301T120000Z", "20260001T120000Z",
	"20261206T240000Z", "20261206T236000Z", "20261206T235960Z",
	"20261206t055218Z", "20261206T055218z", "20261206T055218", "20261206T0552180Z", "2026126T055218Z",
	"+0261206T055218Z", "2026-206T055218Z", "20261206T-55218Z", "20261206T05 218Z", "２0261206T055218Z",
	"", "20261206", "20260229", "20240229", "2026120", "202612066", "2026-1-6", "+2026120", "0000010100",
}

func TestParseAmzDateMatchesTimeParse(t *testing.T) {
	for _, s := range dateCases {
		t.Run(s, func(t *testing.T) {
			want, werr := time.Parse(timeFormat, s)
			got, ok := parseAmzDate(s)
			if ok != (werr == nil) || (ok && !got.Equal(want)) {
				t.Fatalf("parseAmzDate(%q) = %v, %v; time.Parse = %v, %v", s, got, ok, want, werr)
			}
			if ok && s[:8] != want.Format(dateFormat) {
				t.Fatalf("date part %q, time.Format %q", s[:8], want.Format(dateFormat))
			}
			wantD, derr := time.Parse(dateFormat, s)
			gotD, ok := parseDate(s)
			if ok != (derr == nil) || (ok && !gotD.Equal(wantD)) {
				t.Fatalf("parseDate(%q) = %v, %v; time.Parse = %v, %v", s, gotD, ok, wantD, derr)
			}
		})
	}
}

// splitCredential is ParseCredential as it was written with strings.Split
// and time.Parse, the reference for the allocation-free one.
func splitCredential(c string) (Scope, bool) {
	parts := strings.Split(c, "/")
	if len(parts) != 5 || parts[0] == "" || parts[4] != terminator {
		return Scope{}, false
	}
	if _, err := time.Parse(dateFormat, parts[1]); err != nil {
		return Scope{}, false
	}
	if parts[2] == "" || parts[3] == "" {
		return Scope{}, false
	}
	return Scope{AccessKeyID: parts[0], Date: parts[1], Region: parts[2], Service: parts[3]}, true
}

var credentialCases = []string{
	"AKIDEXAMPLE/20261206/us-east-1/sts/aws4_request",
	"AKIDEXAMPLE/20261206/us-east-1/sts/aws4_request/",
	"AKIDEXAMPLE/20261206/us-east-1/sts/aws4_request/extra",
	"AKIDEXAMPLE/20261206/us-east-1/sts",
	"AKIDEXAMPLE/20261206/us-east-1/sts/aws4_requestx",
	"/20261206/us-east-1/sts/aws4_request",
	"AKIDEXAMPLE/20260230/us-east-1/sts/aws4_request",
	"AKIDEXAMPLE/2026120/us-east-1/sts/aws4_request",
	"AKIDEXAMPLE/20261206//sts/aws4_request",
	"AKIDEXAMPLE/20261206/us-east-1//aws4_request",
	"AKIDEXAMPLE//us-east-1/sts/aws4_request",
	"", "/", "////", "/////", "a/b/c/d/aws4_request", "a/20261206/c/d/aws4_request",
}

func TestParseCredentialMatchesSplit(t *testing.T) {
	for _, c := range credentialCases {
		t.Run(c, func(t *testing.T) {
			want, ok := splitCredential(c)
			got, err := ParseCredential(c)
			if ok != (err == nil) || got != want {
				t.Fatalf("ParseCredential(%q) = %+v, %v; reference %+v, %v", c, got, err, want, ok)
			}
		})
	}
}

func FuzzParseCredential(f *testing.F) {
	for _, c := range credentialCases {
		f.Add(c)
	}
	for _, s := range dateCases {
		f.Add("AKID/" + s + "/r/s/aws4_request")
	}
	f.Fuzz(func(t *testing.T, c string) {
		want, ok := splitCredential(c)
		got, err := ParseCredential(c)
		if ok != (err == nil) || got != want {
			t.Fatalf("ParseCredential(%q) = %+v, %v; reference %+v, %v", c, got, err, want, ok)
		}
		if len(c) >= len(timeFormat) {
			s := c[:len(timeFormat)]
			w, werr := time.Parse(timeFormat, s)
			g, ok := parseAmzDate(s)
			if ok != (werr == nil) || (ok && !g.Equal(w)) {
				t.Fatalf("parseAmzDate(%q) = %v, %v; time.Parse = %v, %v", s, g, ok, w, werr)
			}
		}
	})
}
