package webterm

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2instanceconnect"
	"github.com/aws/smithy-go"
	"github.com/aws/smithy-go/middleware"

	"github.com/postern/postern/internal/client"
	"github.com/postern/postern/internal/store"
	"github.com/postern/postern/internal/util/sdkreq"
	"github.com/postern/postern/internal/wire/tunnelproto"
	"github.com/postern/postern/internal/wire/wsframe"
)

// The API calls a terminal session makes as the caller: real AWS SDK
// clients whose requests go through the server's own handler on
// in-process connections from the browser's address, with the console's
// user agent, so that authentication, IAM and the audit trail treat them
// as any client's.

// uaTransport sends every request with the caller's user agent (SigV4
// does not sign User-Agent).
type uaTransport struct {
	base http.RoundTripper
	ua   string
}

func (u uaTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if u.ua != "" {
		r = r.Clone(r.Context())
		r.Header.Set("User-Agent", u.ua)
	}
	return u.base.RoundTrip(r)
}

// awsConfig is an SDK configuration that calls the server as c.
func (t *Terminal) awsConfig(c *Caller) aws.Config {
	hc := t.cfg.Loop.Client(c.Remote)
	hc.Transport = uaTransport{base: hc.Transport, ua: c.UserAgent}
	return aws.Config{
		Region:       t.cfg.Region,
		BaseEndpoint: aws.String("http://" + t.cfg.Host),
		HTTPClient:   hc,
		Credentials:  credentials.NewStaticCredentialsProvider(c.Credentials.AccessKeyID, c.Credentials.SecretAccessKey, c.Credentials.SessionToken),
		Retryer:      func() aws.Retryer { return aws.NopRetryer{} },
		// The SDK's body would make net/http drop a connection the server
		// answered quickly (package sdkreq).
		APIOptions: []func(*middleware.Stack) error{sdkreq.BodyWithoutWriteTo},
	}
}

// resolveTarget finds the instance's address and an endpoint for it as
// the CLI does (client.Resolve: the instance's private IPv4, else IPv6;
// a usable endpoint of its VPC, one in its subnet first).
func (t *Terminal) resolveTarget(ctx context.Context, c *Caller, instanceID string, port int) (client.Target, error) {
	tg := client.Target{InstanceID: instanceID, RemotePort: port}
	err := client.Resolve(ctx, ec2.NewFromConfig(t.awsConfig(c)), &tg)
	return tg, err
}

// sendKey pushes an SSH public key for osUser as the caller.
func (t *Terminal) sendKey(ctx context.Context, c *Caller, instanceID, osUser, publicKey string) error {
	api := ec2instanceconnect.NewFromConfig(t.awsConfig(c))
	out, err := api.SendSSHPublicKey(ctx, &ec2instanceconnect.SendSSHPublicKeyInput{
		InstanceId: aws.String(instanceID), InstanceOSUser: aws.String(osUser), SSHPublicKey: aws.String(publicKey)})
	if err != nil {
		return &client.OpError{Op: "SendSSHPublicKey", Err: err}
	}
	if !out.Success {
		return errors.New("SendSSHPublicKey did not succeed")
	}
	return nil
}

// dial presigns the openTunnel URL with the caller's credentials and
// opens the tunnel through the front door on an in-process connection
// from the browser's address.
func (t *Terminal) dial(ctx context.Context, c *Caller, tg client.Target) (*client.Tunnel, error) {
	// A URL of its own for each terminal (client.NonceParam): two opened
	// in one second by one person to one instance are two URLs, which
	// tunnel.replay: single-use accepts.
	u, err := client.PresignUniqueURL(ctx, c.Credentials, t.cfg.Region, tg, t.cfg.Now())
	if err != nil {
		return nil, err
	}
	d := &client.Dialer{UserAgent: c.UserAgent, NetDial: func(ctx context.Context) (net.Conn, error) {
		return t.cfg.Loop.Dial(ctx, c.Remote)
	}}
	return d.DialURL(ctx, u, tg.DNSName)
}

// refusal finds, in the trail, why the front door closed request
// requestID's tunnel after answering it 101 and before its first byte
// (the agent's dial failed): the front door records such a tunnel as
// opened (its OpenTunnel record commits while the agent dials) and
// commits its CloseTunnel, whose reason and message are the dial's
// failure, before it closes the WebSocket. An attempt refused outright
// is one OpenTunnel record with errorCode and errorMessage. ok is false
// when neither is there (the tunnel carried bytes, or its records could
// not be written). closed is the close the terminal read: only the
// record of that close counts (closedUnopened).
func (t *Terminal) refusal(ctx context.Context, c *Caller, requestID string, since time.Time, closed *client.ClosedError) (code, message string, ok bool) {
	if requestID == "" {
		return "", "", false
	}
	evs, err := t.cfg.Store.ListEvents(ctx, store.EventQuery{EventName: "OpenTunnel", AccessKeyID: c.Credentials.AccessKeyID,
		Since: since.Add(-time.Minute), Limit: 100})
	if err != nil {
		t.log.Warn("could not read the tunnel attempt's record", "request_id", requestID, "error", err)
		return "", "", false
	}
	for _, e := range evs {
		if e.RequestID != requestID {
			continue
		}
		if e.ErrorCode != "" {
			var rec struct {
				ErrorMessage string `json:"errorMessage"`
			}
			_ = json.Unmarshal([]byte(e.Body), &rec)
			return e.ErrorCode, rec.ErrorMessage, true
		}
		if e.TunnelID != "" {
			return t.closedUnopened(ctx, requestID, e.TunnelID, closed)
		}
	}
	return "", "", false
}

// closedUnopened reads the CloseTunnel record of a tunnel the front door
// ended at its dial (its failedOpen): its reason (the dial's failure:
// ConnectionRefused, …) and message. Such a record is told precisely from
// the end of a tunnel that was open, which is no refusal even when it
// carried no byte (the target reset it, its agent was lost, it was
// revoked, the server stopped, a recovery closed it): the front door
// gives a failed dial the close code 1011 and a close frame whose reason
// is the record's message, and commits the record before it writes the
// frame; the reason is a dial failure's, not one of the ends of an open
// tunnel that also close with 1011; and the close the terminal read
// (closed) is that frame.
func (t *Terminal) closedUnopened(ctx context.Context, requestID, tunnelID string, closed *client.ClosedError) (code, message string, ok bool) {
	if closed == nil || closed.Code != wsframe.CloseInternalError {
		return "", "", false
	}
	evs, err := t.cfg.Store.ListEvents(ctx, store.EventQuery{EventName: "CloseTunnel", TunnelID: tunnelID, Limit: 1})
	if err != nil {
		t.log.Warn("could not read the tunnel's close record", "request_id", requestID, "tunnel", tunnelID, "error", err)
		return "", "", false
	}
	for _, e := range evs {
		var rec struct {
			D struct {
				Reason    string `json:"reason"`
				Message   string `json:"message"`
				CloseCode int    `json:"closeCode"`
				BytesIn   int64  `json:"bytesIn"`
				BytesOut  int64  `json:"bytesOut"`
			} `json:"serviceEventDetails"`
		}
		if json.Unmarshal([]byte(e.Body), &rec) != nil || rec.D.BytesIn != 0 || rec.D.BytesOut != 0 ||
			rec.D.CloseCode != wsframe.CloseInternalError || !dialFailure(rec.D.Reason) ||
			!closeFrameOf(closed.Reason, rec.D.Message) {
			return "", "", false
		}
		return rec.D.Reason, rec.D.Message, true
	}
	return "", "", false
}

// dialFailure reports whether reason, a CloseTunnel's, can be a failed
// dial's: the dial's code (ConnectionRefused, …, or InternalError when
// the agent gave none) or the front door's EndpointUnavailable, not Normal
// nor one of the ends of an open tunnel that close it with 1011 as well.
func dialFailure(reason string) bool {
	switch reason {
	case "", "Normal", tunnelproto.CodeTargetReset, tunnelproto.CodeTargetError, tunnelproto.CodeAgentLost:
		return false
	}
	return true
}

// maxCloseReason is the most of a reason a close frame holds (125 bytes
// of payload less the code's 2); wsframe cuts a longer one there, at a
// character's boundary.
const maxCloseReason = 123

// closeFrameOf reports whether reason, read in a close frame, is message
// as a close frame carries it: all of it, or its first maxCloseReason
// bytes, less the end of a character cut there.
func closeFrameOf(reason, message string) bool {
	if reason == message {
		return true
	}
	return len(message) > maxCloseReason && len(reason) > maxCloseReason-utf8.UTFMax &&
		strings.HasPrefix(message, reason)
}

// tunnelID finds the id of the tunnel the front door opened for request
// requestID, in its OpenTunnel record (the id is not on the wire).
func (t *Terminal) tunnelID(ctx context.Context, c *Caller, requestID string, since time.Time) (string, error) {
	evs, err := t.cfg.Store.ListEvents(ctx, store.EventQuery{EventName: "OpenTunnel", AccessKeyID: c.Credentials.AccessKeyID,
		Since: since.Add(-time.Minute), Limit: 100})
	if err != nil {
		return "", fmt.Errorf("webterm: find the tunnel's record: %w", err)
	}
	for _, e := range evs {
		if e.RequestID == requestID && e.TunnelID != "" {
			return e.TunnelID, nil
		}
	}
	return "", fmt.Errorf("webterm: no OpenTunnel record with request id %s", requestID)
}

// wireError is what the browser is told about a failed step: AWS's error
// code and message when the server refused, a code of ours otherwise.
func wireError(err error) (code, message string) {
	var ae smithy.APIError
	var refused *client.RefusedError
	var re *client.ResolveError
	switch {
	case errors.As(err, &ae):
		return ae.ErrorCode(), ae.ErrorMessage()
	case errors.As(err, &refused):
		code = refused.ErrorCode
		if code == "" {
			code = http.StatusText(refused.Status)
		}
		return code, refused.Message
	case errors.As(err, &re):
		return "EndpointNotAvailable", re.Message
	}
	return "ConnectFailed", err.Error()
}
