// Package client is the tunnel client: `postern ec2-instance-connect
// open-tunnel` (and its alias `postern tunnel`). It resolves an instance
// and an endpoint as the AWS CLI does (docs/aws-compat.md §1.8), presigns the
// openTunnel URL exactly as the AWS CLI builds it (§1.1–1.2), opens the
// WebSocket and carries bytes between it and stdin/stdout (ssh's
// ProxyCommand) or a local listener (one tunnel per accepted connection).
//
// It talks to the server only through its public wire protocols; it never
// imports the server side.
package client

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// Target is what a tunnel connects to, through which endpoint.
type Target struct {
	InstanceID string
	EndpointID string
	// DNSName is the endpoint's dnsName: a host (the tunnel goes to port
	// 443, as the AWS CLI's) or, for Postern servers on another port,
	// host:port.
	DNSName    string
	PrivateIP  string
	RemotePort int
	// MaxTunnelDuration in seconds; 0 leaves it out of the URL (the server
	// then applies 3600).
	MaxTunnelDuration int
}

// emptySHA256 is the payload hash the AWS CLI signs openTunnel URLs with.
const emptySHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

// PresignExpiry is the lifetime of an openTunnel URL, as the AWS CLI signs it.
const PresignExpiry = 60 * time.Second

// HostPort splits a dnsName into the host (Host header and SNI) and the
// address to dial (port 443 unless the name carries one). An IPv6 literal
// comes bracketed ("[fd00::1]", "[fd00::1]:8443"), as in a URL.
func HostPort(dnsName string) (hostHeader, sni, addr string) {
	if h, p, err := net.SplitHostPort(dnsName); err == nil && p != "" {
		return dnsName, h, dnsName
	}
	host := dnsName
	if len(host) > 2 && host[0] == '[' && host[len(host)-1] == ']' {
		host = host[1 : len(host)-1]
	}
	return dnsName, host, net.JoinHostPort(host, "443")
}

// presigner signs every openTunnel URL of the process: it keeps the
// signing key derived for a day, region and secret (four HMACs) instead of
// deriving it again for every tunnel. It is safe for concurrent use.
var presigner = v4.NewSigner()

// PresignURL returns the wss:// URL of an openTunnel request signed with
// SigV4 for service ec2-instance-connect, with its query in the AWS CLI's
// order: instanceConnectEndpointId, remotePort, privateIpAddress,
// maxTunnelDuration (only when set), the X-Amz-* parameters, then
// X-Amz-Signature. It is the AWS CLI's URL to the byte (docs/aws-compat.md
// §1.2's vectors): signed to the second, without a nonce, so two made in
// the same second for the same target and credentials are the same URL
// (PresignUniqueURL differs each time).
func PresignURL(ctx context.Context, creds aws.Credentials, region string, t Target, now time.Time) (string, error) {
	return presign(ctx, creds, region, t, now, "")
}

// NonceParam is the query parameter that PresignUniqueURL adds to an
// openTunnel URL: 128 random bits, hex. SigV4 signs every query parameter
// (X-Amz-Signature aside), so it changes the signature, which is what a
// Postern server's replay guard keys on: under `tunnel.replay: single-use`
// two tunnels opened in the same second to the same target with the same
// credentials are two URLs, each accepted once, while a URL sent again
// (nonce included) is still refused. A Postern server accepts it and
// ignores it otherwise: it is no IAM condition key and no request
// parameter of the attempt's record. The AWS CLI never sends it.
const NonceParam = "X-Postern-Nonce"

// PresignUniqueURL is PresignURL with a NonceParam of its own, signed,
// after the tunnel's parameters and before the X-Amz-* ones: no two of its
// URLs are the same, even when made in the same second.
func PresignUniqueURL(ctx context.Context, creds aws.Credentials, region string, t Target, now time.Time) (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("presign openTunnel: nonce: %w", err)
	}
	return presign(ctx, creds, region, t, now, hex.EncodeToString(b[:]))
}

// presign is PresignURL, with NonceParam set to nonce unless it is "".
func presign(ctx context.Context, creds aws.Credentials, region string, t Target, now time.Time, nonce string) (string, error) {
	host, _, _ := HostPort(t.DNSName)
	params := [][2]string{
		{"instanceConnectEndpointId", t.EndpointID},
		{"remotePort", strconv.Itoa(t.RemotePort)},
		{"privateIpAddress", t.PrivateIP},
	}
	if t.MaxTunnelDuration > 0 {
		params = append(params, [2]string{"maxTunnelDuration", strconv.Itoa(t.MaxTunnelDuration)})
	}
	if nonce != "" {
		params = append(params, [2]string{NonceParam, nonce})
	}
	q := url.Values{}
	for _, p := range params {
		q.Set(p[0], p[1])
	}
	q.Set("X-Amz-Expires", strconv.Itoa(int(PresignExpiry/time.Second)))
	u := &url.URL{Scheme: "https", Host: host, Path: "/openTunnel", RawQuery: q.Encode()}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return "", err
	}
	signed, _, err := presigner.PresignHTTP(ctx, creds, req, emptySHA256, "ec2-instance-connect", region, now.UTC())
	if err != nil {
		return "", fmt.Errorf("presign openTunnel: %w", err)
	}
	su, err := url.Parse(signed)
	if err != nil {
		return "", err
	}
	sq := su.Query()
	// Rebuild the query in the AWS CLI's order.
	var b strings.Builder
	add := func(k, v string) {
		if b.Len() > 0 {
			b.WriteByte('&')
		}
		b.WriteString(url.QueryEscape(k))
		b.WriteByte('=')
		b.WriteString(url.QueryEscape(v))
	}
	for _, p := range params {
		add(p[0], p[1])
	}
	for _, k := range []string{"X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Date", "X-Amz-Expires", "X-Amz-SignedHeaders", "X-Amz-Security-Token", "X-Amz-Signature"} {
		if v := sq.Get(k); v != "" {
			add(k, v)
		}
	}
	return "wss://" + host + "/openTunnel?" + b.String(), nil
}
