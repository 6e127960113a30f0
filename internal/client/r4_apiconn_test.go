package client_test

import (
	"context"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
)

// r4DescribeOK is a DescribeInstances answer naming one instance.
const r4DescribeOK = `<?xml version="1.0" encoding="UTF-8"?>
<DescribeInstancesResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/"><requestId>r4</requestId>` +
	`<reservationSet><item><reservationId>r-1</reservationId><instancesSet><item><instanceId>i-0r4</instanceId>` +
	`</item></instancesSet></item></reservationSet></DescribeInstancesResponse>`

// TestAPIClientUnderTheSDK (R4's review of 13ab54d): the real SDK's EC2
// client, with APIClient as its HTTP client, gets the answers net/http's
// Transport would give it: informational answers (103 Early Hints, 100
// Continue, which a proxy in front of the server may send) are skipped
// for the final one that follows on the same connection; the SDK's
// retries after a throttling 400 or a 5xx go over the kept connection; an
// answer with "Connection: close" is not reused; a chunked answer, and
// one larger than the connection's read buffer, is read to its end and
// its connection kept.
func TestAPIClientUnderTheSDK(t *testing.T) {
	tests := []struct {
		name string
		// first answers the first request (the others get r4DescribeOK).
		first     func(w http.ResponseWriter)
		wantConns int
		wantCalls int
	}{
		{name: "103 early hints", first: func(w http.ResponseWriter) {
			w.Header().Set("Link", "</style.css>; rel=preload")
			w.WriteHeader(http.StatusEarlyHints)
			_, _ = io.WriteString(w, r4DescribeOK)
		}, wantConns: 1, wantCalls: 2},
		{name: "100 continue unasked", first: func(w http.ResponseWriter) {
			w.WriteHeader(http.StatusContinue)
			_, _ = io.WriteString(w, r4DescribeOK)
		}, wantConns: 1, wantCalls: 2},
		{name: "throttled, then retried", first: func(w http.ResponseWriter) {
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = io.WriteString(w, `<Response><Errors><Error><Code>RequestLimitExceeded</Code><Message>slow down</Message></Error></Errors><RequestID>r4</RequestID></Response>`)
		}, wantConns: 1, wantCalls: 3},
		{name: "5xx, then retried", first: func(w http.ResponseWriter) {
			w.WriteHeader(http.StatusInternalServerError)
			_, _ = io.WriteString(w, `<Response><Errors><Error><Code>InternalError</Code><Message>oops</Message></Error></Errors><RequestID>r4</RequestID></Response>`)
		}, wantConns: 1, wantCalls: 3},
		{name: "connection close", first: func(w http.ResponseWriter) {
			w.Header().Set("Connection", "close")
			_, _ = io.WriteString(w, r4DescribeOK)
		}, wantConns: 2, wantCalls: 2},
		{name: "larger than the read buffer", first: func(w http.ResponseWriter) {
			_, _ = io.WriteString(w, strings.Replace(r4DescribeOK, "<reservationSet>", "<reservationSet>"+strings.Repeat(" \n", 20<<10), 1))
		}, wantConns: 1, wantCalls: 2},
		{name: "chunked", first: func(w http.ResponseWriter) {
			_, _ = io.WriteString(w, r4DescribeOK[:100])
			http.NewResponseController(w).Flush()
			_, _ = io.WriteString(w, r4DescribeOK[100:])
		}, wantConns: 1, wantCalls: 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var mu sync.Mutex
			calls := 0
			s := newAPIServer(t, func(_ *apiServer, w http.ResponseWriter, r *http.Request) {
				_, _ = io.Copy(io.Discard, r.Body)
				mu.Lock()
				calls++
				n := calls
				mu.Unlock()
				w.Header().Set("Content-Type", "text/xml;charset=UTF-8")
				if n == 1 {
					tc.first(w)
					return
				}
				_, _ = io.WriteString(w, r4DescribeOK)
			})
			c := apiClient(t, s, nil)
			defer c.Close()
			api := ec2.New(ec2.Options{
				Region:       "us-east-1",
				BaseEndpoint: aws.String(s.URL),
				Credentials:  credentials.NewStaticCredentialsProvider("AKIDR4", "secret", ""),
				HTTPClient:   c,
				Retryer: retry.NewStandard(func(o *retry.StandardOptions) {
					o.Backoff = retry.BackoffDelayerFunc(func(int, error) (time.Duration, error) { return 0, nil })
					o.RateLimiter = ratelimit.None
				}),
			})
			for i := 1; i <= 2; i++ {
				out, err := api.DescribeInstances(context.Background(), &ec2.DescribeInstancesInput{InstanceIds: []string{"i-0r4"}})
				if err != nil {
					t.Fatalf("call %d: %v", i, err)
				}
				if len(out.Reservations) != 1 || len(out.Reservations[0].Instances) != 1 ||
					aws.ToString(out.Reservations[0].Instances[0].InstanceId) != "i-0r4" {
					t.Fatalf("call %d: answer %+v", i, out.Reservations)
				}
			}
			mu.Lock()
			n := calls
			mu.Unlock()
			if got := s.accepted(); len(got) != tc.wantConns || n != tc.wantCalls {
				t.Errorf("%d requests on %d connections %v, want %d on %d", n, len(got), got, tc.wantCalls, tc.wantConns)
			}
		})
	}
}

// TestAPIClientCancelMidBody (R4's review of 13ab54d): a call whose
// context ends while its answer's body is being read fails that read at
// once (the server still holds the body back), and its connection,
// which the rest of that body would still arrive on, is not reused: the
// next call goes over a new one and gets its own answer.
func TestAPIClientCancelMidBody(t *testing.T) {
	release := make(chan struct{})
	var mu sync.Mutex
	calls := 0
	s := newAPIServer(t, func(_ *apiServer, w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		mu.Lock()
		calls++
		n := calls
		mu.Unlock()
		if n > 1 {
			_, _ = io.WriteString(w, "second")
			return
		}
		w.Header().Set("Content-Length", "100")
		_, _ = io.WriteString(w, "first")
		http.NewResponseController(w).Flush()
		select { // the body's rest is held back
		case <-release:
		case <-r.Context().Done():
		}
	})
	defer close(release)
	c := apiClient(t, s, nil)
	defer c.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	resp, err := post(t, c, ctx, s.URL+"/", "x")
	if err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 5)
	if _, err := io.ReadFull(resp.Body, b); err != nil || string(b) != "first" {
		t.Fatalf("body %q, %v", b, err)
	}
	cancel()
	if _, err := io.ReadAll(resp.Body); err == nil {
		t.Fatal("the body's read went on after its context ended")
	}
	resp.Body.Close()
	resp, err = post(t, c, context.Background(), s.URL+"/", "x")
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || string(got) != "second" {
		t.Fatalf("second answer %q, %v", got, err)
	}
	if conns := s.accepted(); len(conns) != 2 {
		t.Errorf("%d connections %v, want 2", len(conns), conns)
	}
}
