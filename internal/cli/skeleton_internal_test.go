package cli

import (
	"testing"

	"github.com/postern/postern/internal/cli/served"
)

// TestServedOperationsSkeletonOrder: skeleton.json (go generate, from the
// AWS CLI's botocore model) knows every served SDK operation's input, so
// that --generate-cli-skeleton lays its members out in the AWS CLI's
// order rather than the SDK's.
func TestServedOperationsSkeletonOrder(t *testing.T) {
	for _, svc := range awsServices() {
		m := skeletonModelOf(svc.name)
		for _, op := range operations(svc.client(zeroConfig, "")) {
			if !served.Serves(svc.name, op.name) {
				continue
			}
			if _, ok := m.Shapes[op.name+"Input"]; !ok {
				t.Errorf("%s %s: no member order in skeleton.json (run go generate ./internal/cli/)", svc.name, op.name)
			}
		}
	}
}
