package ec2api

import (
	"context"
	"io"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
)

// TestQF16HarnessClientRequestBodyEndsCleanly: the harness's own SDK
// clients (h.ec2, h.client), which do not add sdkreq.BodyWithoutWriteTo,
// hand net/http request bodies whose copy after the SDK closed them ends
// cleanly (0 bytes, no error) also with the recorder not keeping bodies,
// as TestBenchClientRequestBodyEndsCleanly checks for benchClient. Before:
// the bodies implemented io.WriterTo and that copy answered io.EOF, the
// error on which net/http closes the connection under the response being
// read.
func TestQF16HarnessClientRequestBodyEndsCleanly(t *testing.T) {
	h := newHarness(t)
	h.rec.keep = false
	keeper := &bodyKeeper{next: h.rec.next}
	h.rec.next = keeper
	clients := []struct {
		name   string
		client *ec2.Client
	}{
		{"h.ec2", h.ec2},
		{"h.client", h.client(h.admin)},
	}
	for _, c := range clients {
		for _, in := range []*ec2.DescribeInstanceConnectEndpointsInput{{}, {MaxResults: aws.Int32(50)}} {
			if _, err := c.client.DescribeInstanceConnectEndpoints(context.Background(), in); err != nil {
				t.Fatalf("%s: %v", c.name, err)
			}
		}
	}
	keeper.mu.Lock()
	defer keeper.mu.Unlock()
	if want := 2 * len(clients); len(keeper.bodies) != want {
		t.Fatalf("%d request bodies sent, want %d", len(keeper.bodies), want)
	}
	for i, b := range keeper.bodies {
		name := clients[i/2].name
		if _, ok := b.(io.WriterTo); ok {
			t.Errorf("%s, call %d: the request body implements io.WriterTo (%T)", name, i%2+1, b)
		}
		if n, err := io.Copy(io.Discard, b); n != 0 || err != nil {
			t.Errorf("%s, call %d: copying the body after the SDK closed it: %d bytes, %v (net/http would close the connection)", name, i%2+1, n, err)
		}
	}
}
