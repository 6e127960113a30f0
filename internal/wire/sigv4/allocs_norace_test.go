//go:build !race

// Under the race detector sync.Pool drops a share of what it is given on
// purpose (the pooled HMAC states), so allocations are counted without it.

package sigv4

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// TestVerifyAllocations bounds the allocations of verifying a request
// signed as the AWS SDK for Go v2 signs an EC2 call (amz-sdk-invocation-id,
// amz-sdk-request, content-length, content-type, host, x-amz-date
// signed): the signed header names are not canonicalised anew (one
// allocation each, 8 in all before), so a verification allocates the
// signed-header list, the Result and content-length's text (this
// client-side request has no such header; a server's has). The string to
// sign and the MAC's sum live in the pooled HMAC state (they escaped
// through hash.Hash, two allocations each call, 5 in all before).
func TestVerifyAllocations(t *testing.T) {
	now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	body := []byte("Action=DescribeInstanceConnectEndpoints&InstanceConnectEndpointId.1=eice-0123456789abcdef0&Version=2016-11-15")
	req, _ := http.NewRequest(http.MethodPost, "https://127.0.0.1:8443/", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Amz-Sdk-Invocation-Id", "58f12251-6737-4f99-93a2-c5648f94cff4")
	req.Header.Set("Amz-Sdk-Request", "attempt=1; max=3")
	sum := sha256.Sum256(body)
	if err := v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: "AKIDEXAMPLE", SecretAccessKey: "s"}, req, hex.EncodeToString(sum[:]), "ec2", "us-east-1", now); err != nil {
		t.Fatal(err)
	}
	v := &Verifier{Now: func() time.Time { return now }, Lookup: staticLookup("AKIDEXAMPLE", "s", "")}
	ctx := context.Background()
	if _, err := v.Verify(ctx, req, body); err != nil { // warms the signing-key cache
		t.Fatal(err)
	}
	const max = 3
	got := testing.AllocsPerRun(200, func() {
		if _, err := v.Verify(ctx, req, body); err != nil {
			t.Fatal(err)
		}
	})
	if got > max {
		t.Errorf("Verify allocates %.1f times per request, want at most %d", got, max)
	}
}
