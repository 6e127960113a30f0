package client_test

import (
	"context"
	"crypto/tls"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/ec2"

	"github.com/postern/postern/internal/client"
	"github.com/postern/postern/internal/testutil/tunneltest"
)

// barrierClient is the SDK's HTTP client, except that each of the first
// two requests waits (at most the barrier's limit) until the other has
// been sent too: calls made in turn never meet there.
type barrierClient struct {
	next  *awshttp.BuildableClient
	limit time.Duration

	mu      sync.Mutex
	actions []string
	arrived int
	both    chan struct{}
}

func (c *barrierClient) Do(r *http.Request) (*http.Response, error) {
	action := awsmiddleware.GetOperationName(r.Context())
	c.mu.Lock()
	c.actions = append(c.actions, action)
	c.arrived++
	if c.arrived == 2 {
		close(c.both)
	}
	first := c.arrived <= 2
	c.mu.Unlock()
	if first {
		select {
		case <-c.both:
		case <-time.After(c.limit):
			return nil, errors.New("barrier: the other look-up was not sent while this one was in flight")
		}
	}
	return c.next.Do(r)
}

// With --instance-id and --instance-connect-endpoint-id (and no DNS
// name) both look-ups are needed and independent: they are in flight at
// once (a look-up made after the other's answer would never meet it at
// the barrier), and the target is what the calls made in turn give. The
// instance's error comes first, as in turn.
func TestResolveLooksUpConcurrently(t *testing.T) {
	e := tunneltest.Start(t, tunneltest.Options{})
	local := e.Server.Local
	_, _, otherEndpoint, _ := e.Network("10.20.0.0/16", "10.20.1.0/24")
	newAPI := func() (*ec2.Client, *barrierClient) {
		bc := &barrierClient{next: awshttp.NewBuildableClient().WithTransportOptions(func(tr *http.Transport) {
			tr.TLSClientConfig = &tls.Config{RootCAs: e.Roots}
		}), limit: 20 * time.Second, both: make(chan struct{})}
		cfg := e.AWS(e.Admin)
		cfg.HTTPClient = bc
		return ec2.NewFromConfig(cfg), bc
	}
	cases := []struct {
		name    string
		target  client.Target
		wantDNS string
		wantErr string // a ResolveError's message, or an OpError's Op
	}{
		{name: "both by id", target: client.Target{InstanceID: local.InstanceID, EndpointID: local.EndpointID}, wantDNS: e.DNSName()},
		{name: "unknown instance, known endpoint", target: client.Target{InstanceID: "i-0123456789abcdef0", EndpointID: local.EndpointID},
			wantErr: "DescribeInstances"},
		{name: "known instance, unknown endpoint", target: client.Target{InstanceID: local.InstanceID, EndpointID: "eice-0123456789abcdef0"},
			wantErr: "DescribeInstanceConnectEndpoints"},
		{name: "endpoint waiting for its agent", target: client.Target{InstanceID: local.InstanceID, EndpointID: otherEndpoint},
			wantErr: "The instance connect endpoint " + otherEndpoint + " is create-in-progress"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			api, bc := newAPI()
			tgt := tc.target
			err := client.Resolve(context.Background(), api, &tgt)
			bc.mu.Lock()
			actions := strings.Join(bc.actions, ",")
			bc.mu.Unlock()
			if !strings.Contains(actions, "DescribeInstances") || !strings.Contains(actions, "DescribeInstanceConnectEndpoints") {
				t.Fatalf("calls made: %s; want both look-ups", actions)
			}
			if tc.wantErr != "" {
				var re *client.ResolveError
				var oe *client.OpError
				switch {
				case errors.As(err, &re):
					if !strings.HasPrefix(re.Message, tc.wantErr) {
						t.Fatalf("Resolve: %q, want one starting with %q", re.Message, tc.wantErr)
					}
				case errors.As(err, &oe):
					if oe.Op != tc.wantErr {
						t.Fatalf("Resolve: the %s call failed (%v), want %s", oe.Op, oe.Err, tc.wantErr)
					}
					if strings.Contains(err.Error(), "barrier") {
						t.Fatalf("the look-ups were made in turn: %v", err)
					}
				default:
					t.Fatalf("Resolve: %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Resolve: %v", err)
			}
			if tgt.DNSName != tc.wantDNS || tgt.PrivateIP == "" || tgt.EndpointID != local.EndpointID {
				t.Fatalf("target %+v, want DNS name %s, a private IP and endpoint %s", tgt, tc.wantDNS, local.EndpointID)
			}
		})
	}
}
