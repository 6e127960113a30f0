package cli_test

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/postern/postern/internal/cli"
	"github.com/postern/postern/internal/testutil/tunneltest"
	"github.com/postern/postern/internal/wire/awsproto"
)

// TestRegionHintTyped: the CLI tells a request signed for another region
// from the server's X-Postern-Regions header and the region it signed
// for, not from the refusal's message; the message is read only when the
// header is absent (an older server). A proxy in front of a real server
// rewords the message or drops the header to show which one the CLI used.
func TestRegionHintTyped(t *testing.T) {
	e := tunneltest.Start(t, tunneltest.Options{})
	caPEM, err := os.ReadFile(filepath.Join(e.Dir, "ca.pem"))
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(caPEM) {
		t.Fatal("ca.pem holds no certificate")
	}
	target, err := url.Parse(e.URL)
	if err != nil {
		t.Fatal(err)
	}
	const realText = "Credential should be scoped to a valid region. This server serves region"
	reword := func(b []byte) []byte {
		return bytes.ReplaceAll(b, []byte(realText), []byte("Signed for the wrong place; try"))
	}
	type rewrite struct {
		body       func([]byte) []byte
		dropHeader bool
	}
	// current is set by each case before its call and read by the proxy
	// (the network orders them; the race detector needs the pointer).
	var current atomic.Pointer[rewrite]
	proxy := httptest.NewUnstartedServer(&httputil.ReverseProxy{
		// The Host the client signed is kept; TLS names the server.
		Rewrite:   func(r *httputil.ProxyRequest) { r.SetURL(target); r.Out.Host = r.In.Host },
		Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots, ServerName: target.Hostname()}},
		ModifyResponse: func(resp *http.Response) error {
			b, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil {
				return err
			}
			rw := current.Load()
			if rw.body != nil {
				b = rw.body(b)
			}
			if rw.dropHeader {
				resp.Header.Del(awsproto.HeaderRegions)
			}
			resp.Body = io.NopCloser(bytes.NewReader(b))
			resp.ContentLength = int64(len(b))
			resp.Header.Set("Content-Length", strconv.Itoa(len(b)))
			return nil
		},
	})
	proxy.StartTLS()
	t.Cleanup(proxy.Close)
	proxyCA := filepath.Join(t.TempDir(), "proxy.pem")
	if err := os.WriteFile(proxyCA, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: proxy.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	hint := "--region " + e.Region
	wrongSecret := aws.Credentials{AccessKeyID: e.Admin.AccessKeyID, SecretAccessKey: "not-the-secret"}
	// A message that names a region, on a refusal that is not about the
	// region: with the header, the CLI does not believe the text.
	fakeRegion := func([]byte) []byte {
		return []byte(`<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error><Type>Sender</Type><Code>SignatureDoesNotMatch</Code>` +
			`<Message>Credential should be scoped to a valid region. This server serves region 'zz-north-9'.</Message></Error><RequestId>r</RequestId></ErrorResponse>`)
	}
	// open-tunnel with the endpoint named in full asks the API nothing:
	// the front door's refusal of the presigned URL is the answer.
	tunnel := []string{"ec2-instance-connect", "open-tunnel", "--instance-connect-endpoint-id", "eice-0123456789abcdef0",
		"--instance-connect-endpoint-dns-name", strings.TrimPrefix(proxy.URL, "https://"), "--private-ip-address", "10.0.0.5"}
	tests := []struct {
		name   string
		region string
		creds  aws.Credentials
		rw     rewrite
		args   []string
		code   int
		want   []string
		not    []string
	}{
		{name: "the proxy carries a good call", region: e.Region, rw: rewrite{}, args: []string{"sts", "get-caller-identity"}, code: 0},
		{name: "as served", code: cli.ExitServiceFail, region: "eu-west-3", rw: rewrite{}, args: []string{"sts", "get-caller-identity"},
			want: []string{hint, "postern configure set region " + e.Region}},
		{name: "as served, EC2", code: cli.ExitServiceFail, region: "eu-west-3", rw: rewrite{}, args: []string{"ec2", "describe-vpcs"},
			want: []string{hint}},
		{name: "message reworded: the header still tells", code: cli.ExitServiceFail, region: "eu-west-3", rw: rewrite{body: reword}, args: []string{"sts", "get-caller-identity"},
			want: []string{hint, "Signed for the wrong place"}, not: []string{"serves region"}},
		{name: "older server: the message tells", code: cli.ExitServiceFail, region: "eu-west-3", rw: rewrite{dropHeader: true}, args: []string{"sts", "get-caller-identity"},
			want: []string{hint}},
		{name: "older server, message reworded: nothing tells", code: cli.ExitServiceFail, region: "eu-west-3", rw: rewrite{body: reword, dropHeader: true}, args: []string{"sts", "get-caller-identity"},
			want: []string{"SignatureDoesNotMatch"}, not: []string{hint, "configure set region"}},
		{name: "right region, wrong secret, message naming a region", code: cli.ExitServiceFail, region: e.Region, creds: wrongSecret, rw: rewrite{body: fakeRegion}, args: []string{"sts", "get-caller-identity"},
			want: []string{"SignatureDoesNotMatch"}, not: []string{"--region zz-north-9", "configure set region"}},
		{name: "open-tunnel refused", code: cli.ExitOther, region: "eu-west-3", rw: rewrite{}, args: tunnel,
			want: []string{"InvalidSignatureException", hint}},
		{name: "open-tunnel refused, message reworded: the header still tells", code: cli.ExitOther, region: "eu-west-3", rw: rewrite{body: reword}, args: tunnel,
			want: []string{"Signed for the wrong place", hint}},
		{name: "open-tunnel refused by an older server: the message tells", code: cli.ExitOther, region: "eu-west-3", rw: rewrite{dropHeader: true}, args: tunnel,
			want: []string{hint}},
		{name: "open-tunnel refused by an older server, message reworded: nothing tells", code: cli.ExitOther, region: "eu-west-3", rw: rewrite{body: reword, dropHeader: true}, args: tunnel,
			want: []string{"InvalidSignatureException"}, not: []string{hint, "configure set region"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			creds := tc.creds
			if creds.AccessKeyID == "" {
				creds = e.Admin
			}
			cliEnv(t, creds)
			current.Store(&tc.rw)
			code, _, stderr := runCLI(append([]string{"--region", tc.region, "--endpoint-url", proxy.URL, "--ca-bundle", proxyCA}, tc.args...)...)
			if code != tc.code {
				t.Fatalf("exit %d, want %d; stderr %q", code, tc.code, stderr)
			}
			for _, w := range tc.want {
				if !strings.Contains(stderr, w) {
					t.Errorf("stderr %q\ndoes not say %q", stderr, w)
				}
			}
			for _, w := range tc.not {
				if strings.Contains(stderr, w) {
					t.Errorf("stderr %q\nsays %q", stderr, w)
				}
			}
		})
	}
}
