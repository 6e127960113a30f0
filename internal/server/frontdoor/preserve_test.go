package frontdoor_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/pires/go-proxyproto"

	"github.com/postern/postern/internal/client"
)

// TestEmbeddedAgentPreserveAndProxy: the embedded agent does not preserve
// client addresses (its targets are on the server's own host), so an
// endpoint with PreserveClientIp says why in its StateMessage and refuses
// tunnels with ClientIpPreservationUnavailable instead of opening them
// from the agent's address; the PROXY protocol v2 tag works through it,
// for the ports its companion tag lists, and a bad tag value is refused.
func TestEmbeddedAgentPreserveAndProxy(t *testing.T) {
	e := startAll(t)
	ctx := context.Background()
	c := e.EC2(e.Admin)
	endpointID := e.Server.Local.EndpointID
	echo := proxyEcho(t)
	echo2 := proxyEcho(t)
	dial := func(port int) (string, error) {
		t.Helper()
		tun, err := e.Dialer(e.Admin).Dial(ctx, e.Local(port))
		if err != nil {
			return "", err
		}
		defer tun.Close()
		// The first bytes the target reads: a header, if any, then these.
		if _, err := tun.Write([]byte("hello\n")); err != nil {
			return "", err
		}
		_ = tun.SetReadDeadline(time.Now().Add(10 * time.Second))
		line, err := bufio.NewReader(tun).ReadString('\n')
		return strings.TrimSpace(line), err
	}

	// PreserveClientIp on: refused, with the reason, and the endpoint says so.
	if _, err := c.ModifyInstanceConnectEndpoint(ctx, &ec2.ModifyInstanceConnectEndpointInput{InstanceConnectEndpointId: aws.String(endpointID), PreserveClientIp: aws.Bool(true)}); err != nil {
		t.Fatal(err)
	}
	line, err := dial(echo.Port)
	var re *client.RefusedError
	if !errors.As(err, &re) || re.ErrorCode != "ClientIpPreservationUnavailable" || re.Status != 503 || !strings.Contains(re.Message, "embedded agent") {
		t.Fatalf("tunnel through the embedded agent with PreserveClientIp: %q %v; want a 503 ClientIpPreservationUnavailable naming the embedded agent", line, err)
	}
	d, err := c.DescribeInstanceConnectEndpoints(ctx, &ec2.DescribeInstanceConnectEndpointsInput{InstanceConnectEndpointIds: []string{endpointID}})
	if err != nil || len(d.InstanceConnectEndpoints) != 1 {
		t.Fatal(err)
	}
	if msg := aws.ToString(d.InstanceConnectEndpoints[0].StateMessage); !strings.Contains(msg, "Client IP preservation is unavailable") || !strings.Contains(msg, "embedded agent") {
		t.Fatalf("StateMessage %q; want why preservation is unavailable", msg)
	}
	if _, err := c.ModifyInstanceConnectEndpoint(ctx, &ec2.ModifyInstanceConnectEndpointInput{InstanceConnectEndpointId: aws.String(endpointID), PreserveClientIp: aws.Bool(false)}); err != nil {
		t.Fatal(err)
	}

	tag := func(kv ...string) {
		t.Helper()
		var tags []ec2types.Tag
		for i := 0; i+1 < len(kv); i += 2 {
			tags = append(tags, ec2types.Tag{Key: aws.String(kv[i]), Value: aws.String(kv[i+1])})
		}
		if _, err := c.CreateTags(ctx, &ec2.CreateTagsInput{Resources: []string{endpointID}, Tags: tags}); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name      string
		tags      []string
		port      int
		want      string // prefix of the target's line
		wantError string // ErrorCode of a refusal
	}{
		{"no tag: no header", nil, echo.Port, "no-proxy", ""},
		{"v2 on every port", []string{"postern:proxy-protocol", "v2"}, echo.Port, "proxy=127.0.0.1:", ""},
		{"v2 on listed ports: listed", []string{"postern:proxy-protocol-ports", fmt.Sprint(echo.Port)}, echo.Port, "proxy=127.0.0.1:", ""},
		{"v2 on listed ports: another", nil, echo2.Port, "no-proxy", ""},
		{"bad ports tag", []string{"postern:proxy-protocol-ports", "x"}, echo.Port, "", "InvalidParameter"},
		{"unsupported version", []string{"postern:proxy-protocol", "v1", "postern:proxy-protocol-ports", "1-65535"}, echo.Port, "", "InvalidParameter"},
		{"off", []string{"postern:proxy-protocol", "off"}, echo.Port, "no-proxy", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.tags != nil {
				tag(tc.tags...)
			}
			line, err := dial(tc.port)
			if tc.wantError != "" {
				if !errors.As(err, &re) || re.ErrorCode != tc.wantError || !strings.Contains(re.Message, "postern:proxy-protocol") {
					t.Fatalf("got %q %v, want a %s refusal naming the tag", line, err, tc.wantError)
				}
				return
			}
			if err != nil || !strings.HasPrefix(line, tc.want) {
				t.Fatalf("the target read %q (%v), want %q…", line, err, tc.want)
			}
			if strings.HasPrefix(tc.want, "proxy=") && !strings.Contains(line, fmt.Sprintf("dest=127.0.0.1:%d", tc.port)) {
				t.Fatalf("the header's destination: %q, want 127.0.0.1:%d", line, tc.port)
			}
		})
	}
}

// proxyEcho listens on loopback and answers each connection with one
// line: the PROXY v2 header's addresses, read with go-proxyproto, or
// "no-proxy" when the connection starts without one (the client's own
// first line follows at once).
func proxyEcho(t *testing.T) *net.TCPAddr {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
				h, err := proxyproto.Read(bufio.NewReader(c))
				switch {
				case err == nil:
					fmt.Fprintf(c, "proxy=%s dest=%s\n", h.SourceAddr, h.DestinationAddr)
				default:
					fmt.Fprintf(c, "no-proxy (%v)\n", err)
				}
			}()
		}
	}()
	return ln.Addr().(*net.TCPAddr)
}
