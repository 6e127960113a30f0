package ec2api

import (
	"context"
	"io"
	"net/http"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
)

// bodyKeeper is an http.RoundTripper that keeps each request's body, as
// net/http's request writer keeps it for its last copy after the
// Content-Length bytes.
type bodyKeeper struct {
	next   http.RoundTripper
	mu     sync.Mutex // guards bodies
	bodies []io.ReadCloser
}

func (k *bodyKeeper) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Body != nil {
		k.mu.Lock()
		k.bodies = append(k.bodies, req.Body)
		k.mu.Unlock()
	}
	return k.next.RoundTrip(req)
}

// TestBenchClientRequestBodyEndsCleanly: the client
// BenchmarkDescribeInstanceConnectEndpoints1000 calls with (recorder not
// keeping bodies) hands net/http request bodies whose copy after the SDK
// closed them ends cleanly (0 bytes, no error). A body answering io.EOF
// there, as smithy-go's WriteTo does, makes net/http close the connection
// under the response being read when the server answered first: the
// benchmark's "use of closed network connection".
func TestBenchClientRequestBodyEndsCleanly(t *testing.T) {
	h := newHarness(t)
	h.rec.keep = false
	keeper := &bodyKeeper{next: h.rec.next}
	h.rec.next = keeper
	client := benchClient(h)
	for _, in := range []*ec2.DescribeInstanceConnectEndpointsInput{
		{},
		{MaxResults: aws.Int32(50)},
	} {
		if _, err := client.DescribeInstanceConnectEndpoints(context.Background(), in); err != nil {
			t.Fatal(err)
		}
	}
	keeper.mu.Lock()
	defer keeper.mu.Unlock()
	if len(keeper.bodies) != 2 {
		t.Fatalf("%d request bodies sent, want 2", len(keeper.bodies))
	}
	for i, b := range keeper.bodies {
		if _, ok := b.(io.WriterTo); ok {
			t.Errorf("call %d: the request body implements io.WriterTo (%T)", i+1, b)
		}
		if n, err := io.Copy(io.Discard, b); n != 0 || err != nil {
			t.Errorf("call %d: copying the body after the SDK closed it: %d bytes, %v (net/http would close the connection)", i+1, n, err)
		}
	}
}
