package client

import (
	"context"
	"net/url"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
)

// The test vectors of docs/aws-compat.md §1.2: the AWS CLI's own test
// URL (vector 1) and two derived with botocore's signer.
func TestPresignURLVectors(t *testing.T) {
	now := time.Date(2020, 1, 1, 1, 1, 1, 0, time.UTC)
	host := "eice-123.ec2-instance-connect-endpoint.us-west-2.amazonaws.com"
	tests := []struct {
		name  string
		token string
		ip    string
		max   int
		sig   string
		want  string // full URL when known
	}{
		{name: "cli test_single_connection_mode", ip: "10.0.0.0", max: 1, sig: "3a56740422a5b9aebd22d860b7a30c729e459a6f71a83bc0de3a2b44b7353f28",
			want: "wss://" + host + "/openTunnel?instanceConnectEndpointId=eice-123&remotePort=22&privateIpAddress=10.0.0.0&maxTunnelDuration=1" +
				"&X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=access_key%2F20200101%2Fus-west-2%2Fec2-instance-connect%2Faws4_request" +
				"&X-Amz-Date=20200101T010101Z&X-Amz-Expires=60&X-Amz-SignedHeaders=host" +
				"&X-Amz-Signature=3a56740422a5b9aebd22d860b7a30c729e459a6f71a83bc0de3a2b44b7353f28"},
		{name: "session token", token: "session_token", ip: "10.0.0.0", max: 1, sig: "7dce7aa3501e3f3e2b039fa9548431a6d4762a3a7cce4b913f1482c669be7f6d"},
		{name: "ipv6 no duration", ip: "2600:1f10:4f8e:db01:73f5:6b9d:c0da:1c27", sig: "6ada39314fdee2cd93d07c4b748d9dc6b18de0b9b1fd0f0649a0caa62bd27353"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			creds := aws.Credentials{AccessKeyID: "access_key", SecretAccessKey: "secret_key", SessionToken: tc.token}
			got, err := PresignURL(context.Background(), creds, "us-west-2",
				Target{EndpointID: "eice-123", DNSName: host, PrivateIP: tc.ip, RemotePort: 22, MaxTunnelDuration: tc.max}, now)
			if err != nil {
				t.Fatal(err)
			}
			u, err := url.Parse(got)
			if err != nil {
				t.Fatal(err)
			}
			if s := u.Query().Get("X-Amz-Signature"); s != tc.sig {
				t.Errorf("signature %s, want %s\nurl %s", s, tc.sig, got)
			}
			if tc.want != "" && got != tc.want {
				t.Errorf("url\n got %s\nwant %s", got, tc.want)
			}
		})
	}
}
