//go:build !race

package sigv4

import (
	"context"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// presignedOpenTunnel is an openTunnel request presigned as the AWS SDK
// for Go v2 presigns it (internal/client), as the server reads it.
func presignedOpenTunnel(tb testing.TB, now time.Time) *http.Request {
	tb.Helper()
	u := "https://eice-0123456789abcdef0.ec2-instance-connect-endpoint.us-east-1.amazonaws.com/openTunnel?instanceConnectEndpointId=eice-0123456789abcdef0&maxTunnelDuration=3600&privateIpAddress=10.0.1.23&remotePort=22"
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		tb.Fatal(err)
	}
	signed, _, err := v4.NewSigner().PresignHTTP(context.Background(), aws.Credentials{AccessKeyID: "AKIDEXAMPLE", SecretAccessKey: "s"}, req, emptySHA256, "ec2-instance-connect", "us-east-1", now)
	if err != nil {
		tb.Fatal(err)
	}
	r, err := http.NewRequest(http.MethodGet, signed, nil)
	if err != nil {
		tb.Fatal(err)
	}
	r.Host = r.URL.Host
	return r
}

// TestVerifyPresignedAllocations bounds the allocations of verifying a
// presigned openTunnel URL whose query the caller parsed (VerifyQuery, as
// the front door calls it through identity.AuthenticateQuery): the query
// is not parsed again.
func TestVerifyPresignedAllocations(t *testing.T) {
	now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	r := presignedOpenTunnel(t, now)
	v := &Verifier{Now: func() time.Time { return now }, Lookup: staticLookup("AKIDEXAMPLE", "s", "")}
	ctx := context.Background()
	q := r.URL.Query()
	if _, err := v.VerifyQuery(ctx, r, nil, q); err != nil { // warms the signing-key cache
		t.Fatal(err)
	}
	parsed := testing.AllocsPerRun(200, func() { _ = r.URL.Query() })
	whole := testing.AllocsPerRun(200, func() {
		if _, err := v.Verify(ctx, r, nil); err != nil {
			t.Fatal(err)
		}
	})
	given := testing.AllocsPerRun(200, func() {
		if _, err := v.VerifyQuery(ctx, r, nil, q); err != nil {
			t.Fatal(err)
		}
	})
	t.Logf("allocations: parsing the query %.0f, Verify %.0f, VerifyQuery with the query parsed %.0f", parsed, whole, given)
	if given > whole-parsed {
		t.Errorf("VerifyQuery allocates %.0f times with the query given, Verify %.0f and a parse %.0f: the query is parsed again", given, whole, parsed)
	}
	const max = 6
	if given > max {
		t.Errorf("VerifyQuery allocates %.0f times per presigned URL, want at most %d", given, max)
	}
}

// BenchmarkVerifyPresigned: a presigned openTunnel URL, its query parsed
// once by the caller (as the front door does).
func BenchmarkVerifyPresigned(b *testing.B) {
	now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	r := presignedOpenTunnel(b, now)
	v := &Verifier{Now: func() time.Time { return now }, Lookup: staticLookup("AKIDEXAMPLE", "s", "")}
	ctx := context.Background()
	var q url.Values
	b.ReportAllocs()
	for b.Loop() {
		q = r.URL.Query() // the front door's own parse, needed anyway
		if _, err := v.VerifyQuery(ctx, r, nil, q); err != nil {
			b.Fatal(err)
		}
	}
}
