package client

import (
	"context"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
)

// presign's URLs are pinned byte for byte (golden URLs recorded at
// commit ec30729): IPv6 endpoints and targets, a port, a session token
// that needs escaping, maxTunnelDuration, the nonce, an access key id
// with /+= in it. A change around the SDK's signer must keep them.
func TestPresignURLBytes(t *testing.T) {
	now := time.Date(2026, 12, 6, 17, 5, 9, 0, time.UTC)
	tests := []struct {
		name   string
		creds  aws.Credentials
		region string
		target Target
		nonce  string
		want   string
	}{
		{"ipv6, port, token to escape, duration",
			aws.Credentials{AccessKeyID: "AKIDEXAMPLE", SecretAccessKey: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", SessionToken: "IQoJb3JpZ2luX2VjE+/a=b&c%d e=="}, "eu-central-1",
			Target{EndpointID: "eice-0123456789abcdef0", DNSName: "[fd00::1]:8443", PrivateIP: "fd00::10", RemotePort: 3389, MaxTunnelDuration: 3600}, "",
			"wss://[fd00::1]:8443/openTunnel?instanceConnectEndpointId=eice-0123456789abcdef0&remotePort=3389&privateIpAddress=fd00%3A%3A10&maxTunnelDuration=3600&X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIDEXAMPLE%2F20261206%2Feu-central-1%2Fec2-instance-connect%2Faws4_request&X-Amz-Date=20261206T170509Z&X-Amz-Expires=60&X-Amz-SignedHeaders=host&X-Amz-Security-Token=IQoJb3JpZ2luX2VjE%2B%2Fa%3Db%26c%25d+e%3D%3D&X-Amz-Signature=e682bffefdd7dd153f7f7fd718a48efe1084575d433dbe746943d77d11541fb1"},
		{"nonce, no token",
			aws.Credentials{AccessKeyID: "AKIDEXAMPLE", SecretAccessKey: "s"}, "us-east-1",
			Target{EndpointID: "eice-1", DNSName: "postern.example:9443", PrivateIP: "10.1.2.3", RemotePort: 22}, "00112233445566778899aabbccddeeff",
			"wss://postern.example:9443/openTunnel?instanceConnectEndpointId=eice-1&remotePort=22&privateIpAddress=10.1.2.3&X-Postern-Nonce=00112233445566778899aabbccddeeff&X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIDEXAMPLE%2F20261206%2Fus-east-1%2Fec2-instance-connect%2Faws4_request&X-Amz-Date=20261206T170509Z&X-Amz-Expires=60&X-Amz-SignedHeaders=host&X-Amz-Signature=31779985776f8d575bc97872f4936dc91ba4fe3727b16130a559c0ae2adf34da"},
		{"access key id to escape, nonce, duration",
			aws.Credentials{AccessKeyID: "AKID+/=", SecretAccessKey: "s", SessionToken: "tok"}, "ap-south-1",
			Target{EndpointID: "eice-2", DNSName: "10.0.0.1", PrivateIP: "10.0.0.7", RemotePort: 65535, MaxTunnelDuration: 1}, "ff",
			"wss://10.0.0.1/openTunnel?instanceConnectEndpointId=eice-2&remotePort=65535&privateIpAddress=10.0.0.7&maxTunnelDuration=1&X-Postern-Nonce=ff&X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKID%2B%2F%3D%2F20261206%2Fap-south-1%2Fec2-instance-connect%2Faws4_request&X-Amz-Date=20261206T170509Z&X-Amz-Expires=60&X-Amz-SignedHeaders=host&X-Amz-Security-Token=tok&X-Amz-Signature=ef2ca5d409a229e73e75c4a97586abb177b520560af77f32fae6f07229412988"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := presign(context.Background(), tc.creds, tc.region, tc.target, now, tc.nonce)
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("url\n got %s\nwant %s", got, tc.want)
			}
		})
	}
}

// BenchmarkPresign is one openTunnel URL's presigning (the SDK's signer
// and the strings around it).
func BenchmarkPresign(b *testing.B) {
	creds := aws.Credentials{AccessKeyID: "AKIDEXAMPLE", SecretAccessKey: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"}
	tg := Target{EndpointID: "eice-0123456789abcdef0", DNSName: "example.com", PrivateIP: "10.0.0.5", RemotePort: 22}
	now := time.Now()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := PresignURL(context.Background(), creds, "us-east-1", tg, now); err != nil {
			b.Fatal(err)
		}
	}
}
