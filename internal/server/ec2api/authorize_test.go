package ec2api

import (
	"fmt"
	"net/http"
	"testing"

	"github.com/postern/postern/internal/server/api"
	"github.com/postern/postern/internal/server/policy"
	"github.com/postern/postern/internal/wire/awsproto"
)

// TestExplicitDenyIsTyped: whether a denial was explicit is read from the
// decision the denial carries, never from its message, so rewording the
// message changes no authorization (authorize tries a check's alternative
// resources only after a denial that is not explicit).
func TestExplicitDenyIsTyped(t *testing.T) {
	const arn, action, res = "arn:aws:iam::000000000000:user/alice", "ec2:DeleteInstanceConnectEndpoint", "arn:aws:ec2:us-east-1:000000000000:instance-connect-endpoint/eice-1"
	explicit := api.DenyError(api.ProtocolEC2, arn, action, res, policy.Decision{Effect: policy.Deny})
	implicit := api.DenyError(api.ProtocolEC2, arn, action, res, policy.Decision{Effect: policy.ImplicitDeny})
	reworded := func(d *api.Denial) *api.Denial {
		c := *d
		c.Err = awsproto.Errorf(d.Err.Status, d.Err.Code, "reworded: %s may not %s", arn, action)
		return &c
	}
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"explicit deny", explicit, true},
		{"explicit deny, reworded", reworded(explicit), true},
		{"explicit deny, wrapped", fmt.Errorf("context: %w", reworded(explicit)), true},
		{"no allow", implicit, false},
		{"no allow, reworded", reworded(implicit), false},
		// The wire error alone, even worded as an explicit deny, carries
		// no decision.
		{"bare wire error with an explicit deny's words", awsproto.Errorf(http.StatusForbidden, explicit.Err.Code, "%s", explicit.Err.Message), false},
		{"other error", errDryRun(), false},
		{"nil", nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := explicitDeny(tt.err); got != tt.want {
				t.Errorf("explicitDeny(%v) = %v, want %v", tt.err, got, tt.want)
			}
		})
	}
}
