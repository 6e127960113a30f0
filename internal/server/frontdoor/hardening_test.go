package frontdoor_test

import (
	"context"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/postern/postern/internal/server/config"
	"github.com/postern/postern/internal/testutil/tunneltest"
)

// presignRaw signs an openTunnel query for EC2 Instance Connect exactly
// as given (repeated values included) at time at; expires "" sends no
// X-Amz-Expires (the SDK's form). See presignQuery.
func presignRaw(t *testing.T, e *tunneltest.Env, creds aws.Credentials, q url.Values, expires string, at time.Time) string {
	t.Helper()
	return presignQuery(t, e, creds, q, "ec2-instance-connect", expires, at)
}

type dialCase struct {
	name   string
	url    func(t *testing.T) string
	status int // 0: the tunnel must open and echo
	code   string
	msg    string
}

// runDialCases dials each case's URL with a dialer holding creds.
func runDialCases(t *testing.T, e *tunneltest.Env, creds aws.Credentials, cases []dialCase) {
	t.Helper()
	d := e.Dialer(creds)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tun, err := d.DialURL(context.Background(), tc.url(t), e.DNSName())
			if tc.status == 0 {
				if err != nil {
					t.Fatalf("want an open tunnel, got %v", err)
				}
				defer tun.Close()
				roundTrip(t, tun, tc.name)
				return
			}
			if err == nil {
				tun.Close()
			}
			wantRefusal(t, err, tc.status, tc.code, tc.msg)
		})
	}
}

// TestTunnelURLLifetime: a presigned tunnel URL may live at most
// tunnel.max_url_lifetime_seconds (default 300): a longer X-Amz-Expires is
// refused before any upgrade, and a URL without X-Amz-Expires (the AWS
// SDKs' form) is good for that long after its X-Amz-Date.
func TestTunnelURLLifetime(t *testing.T) {
	echo := tunneltest.Echo(t)
	// signedAgo is the URL of a tunnel to echo with X-Amz-Expires expires,
	// signed age ago.
	type signedAgo = func(expires string, age time.Duration) func(t *testing.T) string
	for _, tc := range []struct {
		name   string
		config func(*config.Server)
		cases  func(url signedAgo) []dialCase
	}{
		{"default", allPorts, func(url signedAgo) []dialCase {
			return []dialCase{
				{"the AWS CLI's 60 s", url("60", 0), 0, "", ""},
				{"300 s", url("300", 0), 0, "", ""},
				{"300 s, used after 4 minutes", url("300", 4*time.Minute), 0, "", ""},
				{"no X-Amz-Expires", url("", 0), 0, "", ""},
				{"no X-Amz-Expires, used after 4 minutes", url("", 4*time.Minute), 0, "", ""},
				{"301 s", url("301", 0), 400, "InvalidParameter", "at most 300 seconds"},
				{"a week", url("604800", 0), 400, "InvalidParameter", "at most 300 seconds"},
				{"a week, signed six days ago", url("604800", 6*24*time.Hour), 400, "InvalidParameter", "at most 300 seconds"},
				{"no X-Amz-Expires, used after 6 minutes", url("", 6*time.Minute), 403, "InvalidSignatureException", "expired"},
			}
		}},
		{"configured 120 s", func(c *config.Server) { allPorts(c); c.Tunnel.MaxURLLifetimeSeconds = 120 }, func(url signedAgo) []dialCase {
			return []dialCase{
				{"the AWS CLI's 60 s", url("60", 0), 0, "", ""},
				{"120 s", url("120", 0), 0, "", ""},
				{"121 s", url("121", 0), 400, "InvalidParameter", "at most 120 seconds"},
				{"no X-Amz-Expires, used after 3 minutes", url("", 3*time.Minute), 403, "InvalidSignatureException", "expired"},
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := tunneltest.Start(t, tunneltest.Options{Config: tc.config})
			q := query(e.Server.Local.EndpointID, strconv.Itoa(echo.Port), "127.0.0.1")
			url := func(expires string, age time.Duration) func(t *testing.T) string {
				return func(t *testing.T) string { return presignRaw(t, e, e.Admin, q, expires, time.Now().Add(-age)) }
			}
			runDialCases(t, e, e.Admin, tc.cases(url))
		})
	}
}

// TestTunnelParametersAppearOnce: a parameter sent twice, even under a
// signature that covers both values, is refused before any upgrade.
func TestTunnelParametersAppearOnce(t *testing.T) {
	e := startAll(t)
	echo := tunneltest.Echo(t)
	ep := e.Server.Local.EndpointID
	port := strconv.Itoa(echo.Port)
	twice := func(name string, values ...string) func(t *testing.T) string {
		return func(t *testing.T) string {
			q := query(ep, port, "127.0.0.1")
			q[name] = values
			return presignRaw(t, e, e.Admin, q, "60", time.Now())
		}
	}
	runDialCases(t, e, e.Admin, []dialCase{
		{"each once", twice("remotePort", port), 0, "", ""},
		{"remotePort twice", twice("remotePort", port, "22"), 400, "InvalidParameter", "remotePort"},
		{"remotePort twice, same value", twice("remotePort", port, port), 400, "InvalidParameter", "remotePort"},
		{"privateIpAddress twice", twice("privateIpAddress", "127.0.0.1", "10.0.0.1"), 400, "InvalidParameter", "privateIpAddress"},
		{"instanceConnectEndpointId twice", twice("instanceConnectEndpointId", ep, "eice-00000000000000000"), 400, "InvalidParameter", "instanceConnectEndpointId"},
		{"maxTunnelDuration twice", twice("maxTunnelDuration", "60", "3600"), 400, "InvalidParameter", "maxTunnelDuration"},
		{"X-Amz-Date twice", func(t *testing.T) string {
			u := presignRaw(t, e, e.Admin, query(ep, port, "127.0.0.1"), "60", time.Now())
			return u + "&X-Amz-Date=" + time.Now().UTC().Format("20060102T150405Z")
		}, 400, "InvalidParameter", "X-Amz-Date"},
		{"X-Amz-Signature twice", func(t *testing.T) string {
			u := presignRaw(t, e, e.Admin, query(ep, port, "127.0.0.1"), "60", time.Now())
			return u + "&X-Amz-Signature=" + strings.Repeat("0", 64)
		}, 400, "InvalidParameter", "X-Amz-Signature"},
		{"same name encoded two ways", func(t *testing.T) string {
			u := presignRaw(t, e, e.Admin, query(ep, port, "127.0.0.1"), "60", time.Now())
			return u + "&remote%50ort=22"
		}, 400, "InvalidParameter", "remotePort"},
		{"a query that does not parse", func(t *testing.T) string {
			u := presignRaw(t, e, e.Admin, query(ep, port, "127.0.0.1"), "60", time.Now())
			return u + "&remotePort=22;x"
		}, 400, "InvalidParameter", "query"},
	})
}

// TestTunnelNumbersBounded: remotePort and maxTunnelDuration are parsed
// and bounded before any arithmetic; a duration whose product with a
// second overflows is refused, not wrapped to a value an IAM cap allows.
func TestTunnelNumbersBounded(t *testing.T) {
	e := startAll(t)
	echo := tunneltest.Echo(t)
	ep := e.Server.Local.EndpointID
	port := strconv.Itoa(echo.Port)
	capped := e.NewUser("capped", policy(`{"NumericLessThanEquals":{"ec2-instance-connect:maxTunnelDuration":"600"}}`))
	url := func(creds aws.Credentials, port, dur string) func(t *testing.T) string {
		return func(t *testing.T) string {
			q := query(ep, port, "127.0.0.1")
			if dur != "" {
				q.Set("maxTunnelDuration", dur)
			}
			return presignRaw(t, e, creds, q, "60", time.Now())
		}
	}
	runDialCases(t, e, capped, []dialCase{
		{"capped user within the cap", url(capped, port, "600"), 0, "", ""},
		{"capped user over the cap", url(capped, port, "601"), 403, "AccessDeniedException", "not authorized"},
		{"capped user, 2^63-1", url(capped, port, "9223372036854775807"), 400, "InvalidParameter", "MaxTunnelDuration"},
		{"capped user, wraps to 500 s", url(capped, port, "36028797018964468"), 400, "InvalidParameter", "MaxTunnelDuration"},
		{"capped user, beyond int64", url(capped, port, "99999999999999999999"), 400, "InvalidParameter", "MaxTunnelDuration"},
		{"3600", url(capped, port, "3600"), 403, "AccessDeniedException", "not authorized"},
		{"3601", url(capped, port, "3601"), 400, "InvalidParameter", "MaxTunnelDuration"},
		{"0", url(capped, port, "0"), 400, "InvalidParameter", "MaxTunnelDuration"},
		{"negative", url(capped, port, "-1"), 400, "InvalidParameter", "MaxTunnelDuration"},
		{"signed", url(capped, port, "+60"), 400, "InvalidParameter", "MaxTunnelDuration"},
		{"not decimal", url(capped, port, "0x60"), 400, "InvalidParameter", "MaxTunnelDuration"},
		{"port 0", url(capped, "0", ""), 400, "InvalidParameter", "RemotePort"},
		{"port 65536", url(capped, "65536", ""), 400, "InvalidParameter", "RemotePort"},
		{"port 2^64+22", url(capped, "18446744073709551638", ""), 400, "InvalidParameter", "RemotePort"},
		{"port signed", url(capped, "+"+port, "600"), 400, "InvalidParameter", "RemotePort"},
	})
	// What was refused is on record as sent; nothing huge was opened.
	for _, ev := range events(t, e, "OpenTunnel") {
		if ev.ErrorCode == "" && strings.Contains(ev.Body, "36028797018964468") {
			t.Fatalf("a tunnel was opened with an overflowing duration: %s", ev.Body)
		}
	}
}
