package oidcverify

import (
	"errors"
	"testing"
)

// TestErrorDetail: every refusal wraps its sentinel, carries what was
// wrong as Detail (which callers put in AWS's message, taken with
// errors.As), and reads as "<sentinel>: <detail>" in logs.
func TestErrorDetail(t *testing.T) {
	tests := []struct {
		err        error
		kind       error
		detail     string
		notWrapped error
	}{
		{invalid("claim %s is not a number", "exp"), ErrInvalidToken, "claim exp is not a number", ErrRejectedClaim},
		{rejected("session tag %q has a non-string value", "team"), ErrRejectedClaim, `session tag "team" has a non-string value`, ErrInvalidToken},
		{communication("JWKS at %s: %v", "https://idp.example/keys", errors.New("EOF")), ErrCommunication, "JWKS at https://idp.example/keys: EOF", ErrExpired},
		{refusal(ErrExpired, "Token expired: current date/time %s", "2026-01-01T00:00:00Z"), ErrExpired, "Token expired: current date/time 2026-01-01T00:00:00Z", ErrInvalidToken},
	}
	for _, tt := range tests {
		t.Run(tt.detail, func(t *testing.T) {
			if !errors.Is(tt.err, tt.kind) || errors.Is(tt.err, tt.notWrapped) {
				t.Errorf("%v: errors.Is(%v) = %v, errors.Is(%v) = %v", tt.err, tt.kind, errors.Is(tt.err, tt.kind), tt.notWrapped, errors.Is(tt.err, tt.notWrapped))
			}
			var e *Error
			if !errors.As(tt.err, &e) || e.Detail != tt.detail || e.Kind != tt.kind {
				t.Fatalf("errors.As: %#v, want Kind %v and Detail %q", e, tt.kind, tt.detail)
			}
			if got, want := tt.err.Error(), tt.kind.Error()+": "+tt.detail; got != want {
				t.Errorf("Error() = %q, want %q", got, want)
			}
		})
	}
}
