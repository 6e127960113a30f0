package sdkreq

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go/logging"
	"github.com/aws/smithy-go/middleware"
)

// bodyCheckingClient is an aws.HTTPClient that does to each request's body
// what net/http's request writer does (reads its Content-Length bytes, and
// once the SDK has closed the body, copies what is left to find extra
// bytes) and answers with the next of answers.
type bodyCheckingClient struct {
	t       *testing.T
	answers []int // status codes, in turn
	bodies  []string
}

func (c *bodyCheckingClient) Do(req *http.Request) (*http.Response, error) {
	c.t.Helper()
	if _, ok := req.Body.(io.WriterTo); ok {
		c.t.Errorf("attempt %d: the request body implements io.WriterTo (%T)", len(c.bodies)+1, req.Body)
	}
	b := make([]byte, req.ContentLength)
	if _, err := io.ReadFull(req.Body, b); err != nil {
		c.t.Fatalf("reading the body: %v", err)
	}
	c.bodies = append(c.bodies, string(b))
	// The SDK closes the body as soon as the answer is in; net/http's
	// writer may then still make its last copy (transferWriter.writeBody).
	defer func() {
		if n, err := io.Copy(io.Discard, req.Body); err != nil || n != 0 {
			c.t.Errorf("attempt %d: net/http's copy after the SDK closed the body: %d bytes, %v (the writer would close the connection)", len(c.bodies), n, err)
		}
	}()
	defer req.Body.Close()
	code := c.answers[0]
	c.answers = c.answers[1:]
	body := `<GetCallerIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><GetCallerIdentityResult>` +
		`<Arn>arn:aws:iam::123456789012:user/a</Arn><UserId>AIDA</UserId><Account>123456789012</Account>` +
		`</GetCallerIdentityResult><ResponseMetadata><RequestId>r</RequestId></ResponseMetadata></GetCallerIdentityResponse>`
	if code != http.StatusOK {
		body = `<ErrorResponse><Error><Type>Receiver</Type><Code>InternalFailure</Code><Message>m</Message></Error><RequestId>r</RequestId></ErrorResponse>`
	}
	return &http.Response{StatusCode: code, Header: http.Header{"Content-Type": {"text/xml"}},
		Body: io.NopCloser(strings.NewReader(body)), ContentLength: int64(len(body)), Request: req}, nil
}

// TestBodyWithoutWriteTo: the request body the SDK hands the HTTP
// client is not an io.WriterTo, so net/http's last copy of it after the SDK
// closed it ends cleanly instead of failing (which made the transport close
// a connection under a response being read, and the SDK retry after its
// back-off); a retried attempt still sends the whole body again.
func TestBodyWithoutWriteTo(t *testing.T) {
	tests := []struct {
		name     string
		answers  []int
		attempts int
		debug    bool // --debug: the SDK logs requests with their bodies
	}{
		{"one attempt", []int{200}, 1, false},
		{"retried after a server error", []int{500, 200}, 2, false},
		{"--debug", []int{200}, 1, true},
		{"--debug, retried", []int{500, 200}, 2, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hc := &bodyCheckingClient{t: t, answers: tt.answers}
			cfg := aws.Config{Region: "us-east-1", HTTPClient: hc,
				Credentials: credentials.NewStaticCredentialsProvider("AKIDEXAMPLE", "secret", ""),
				APIOptions:  []func(*middleware.Stack) error{BodyWithoutWriteTo}}
			if tt.debug {
				cfg.Logger = logging.Nop{}
				cfg.ClientLogMode = aws.LogRequestWithBody | aws.LogResponseWithBody | aws.LogRetries
			}
			client := sts.NewFromConfig(cfg, func(o *sts.Options) {
				o.BaseEndpoint = aws.String("https://127.0.0.1:1")
				o.Retryer = retry.NewStandard(func(so *retry.StandardOptions) { so.Backoff = noBackoff{} })
			})
			out, err := client.GetCallerIdentity(context.Background(), &sts.GetCallerIdentityInput{})
			if err != nil {
				t.Fatal(err)
			}
			if aws.ToString(out.Account) != "123456789012" {
				t.Errorf("account %q", aws.ToString(out.Account))
			}
			if len(hc.bodies) != tt.attempts {
				t.Fatalf("%d attempts, want %d", len(hc.bodies), tt.attempts)
			}
			for i, b := range hc.bodies {
				if !strings.Contains(b, "Action=GetCallerIdentity") || !bytes.Equal([]byte(b), []byte(hc.bodies[0])) {
					t.Errorf("attempt %d sent %q, the first %q", i+1, b, hc.bodies[0])
				}
			}
		})
	}
}

type noBackoff struct{}

func (noBackoff) BackoffDelay(int, error) (time.Duration, error) { return 0, nil }
