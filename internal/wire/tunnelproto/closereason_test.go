package tunnelproto

import (
	"testing"
	"time"
)

// The maximum-duration close reason is the text clients have always
// printed, and IsMaxDurationCloseReason recognises exactly what
// MaxDurationCloseReason writes.
func TestMaxDurationCloseReason(t *testing.T) {
	tests := []struct {
		d    time.Duration
		want string
	}{
		{time.Second, "Maximum tunnel duration of 1 seconds reached"},
		{60 * time.Second, "Maximum tunnel duration of 60 seconds reached"},
		{3600*time.Second + 500*time.Millisecond, "Maximum tunnel duration of 3600 seconds reached"},
		{604800 * time.Second, "Maximum tunnel duration of 604800 seconds reached"},
	}
	for _, tt := range tests {
		got := MaxDurationCloseReason(tt.d)
		if got != tt.want {
			t.Errorf("MaxDurationCloseReason(%v) = %q, want %q", tt.d, got, tt.want)
		}
		if !IsMaxDurationCloseReason(got) {
			t.Errorf("IsMaxDurationCloseReason(%q) = false", got)
		}
	}
	for _, reason := range []string{
		"",
		"Maximum tunnel duration",
		"Maximum tunnel duration of  seconds reached",
		"Maximum tunnel duration of x seconds reached",
		"Maximum tunnel duration of 60 seconds reached.",
		"Access was revoked: the endpoint agent eni-1 was revoked",
		"The tunnel was terminated by arn:aws:iam::1:user/a",
	} {
		if IsMaxDurationCloseReason(reason) {
			t.Errorf("IsMaxDurationCloseReason(%q) = true", reason)
		}
	}
}
