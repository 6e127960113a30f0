package server

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"runtime"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/postern/postern/internal/server/config"
	"github.com/postern/postern/internal/server/identity"
	"github.com/postern/postern/internal/server/policy"
	"github.com/postern/postern/internal/store"
)

// benchServer starts an in-process server on a loopback listener and
// returns an HTTP client that trusts it and its URL.
func benchServer(tb testing.TB) (*Server, *http.Client, string) {
	tb.Helper()
	cfg := config.Default()
	cfg.DataDir = filepath.Join(tb.TempDir(), "data")
	s, err := New(context.Background(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		tb.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	go s.Serve(ln)
	tb.Cleanup(func() {
		s.Shutdown(context.Background())
		s.Close()
	})
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(s.Certs.CAPEM)
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, MaxIdleConnsPerHost: 64}
	return s, &http.Client{Transport: tr}, "https://" + ln.Addr().String()
}

func sdkConfig(hc *http.Client, akid, secret string) aws.Config {
	return aws.Config{
		Region:      "us-east-1",
		Credentials: credentials.NewStaticCredentialsProvider(akid, secret, ""),
		HTTPClient:  hc,
	}
}

// BenchmarkHealthz is the baseline: an unauthenticated HTTPS round trip on
// the same listener and client as the signed API benchmarks.
func BenchmarkHealthz(b *testing.B) {
	_, hc, url := benchServer(b)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			resp, err := hc.Get(url + "/healthz")
			if err != nil {
				b.Error(err)
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "req/s")
}

// BenchmarkGetCallerIdentity measures signed STS GetCallerIdentity calls
// made with the AWS SDK for Go v2, verified end to end by the server.
func BenchmarkGetCallerIdentity(b *testing.B) {
	s, hc, url := benchServer(b)
	client := sts.NewFromConfig(sdkConfig(hc, s.Admin.AccessKeyID, s.Admin.SecretAccessKey), func(o *sts.Options) {
		o.BaseEndpoint = aws.String(url)
	})
	ctx := context.Background()
	b.SetParallelism(max(1, 8/runtime.GOMAXPROCS(0))) // 8 concurrent callers
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := client.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{}); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "req/s")
}

// BenchmarkCreateUser measures a write call, CreateUser, through the
// whole server: the user and the call's audit record are one commit
// (audit.Writer.InTx). clients is the number of concurrent callers.
func BenchmarkCreateUser(b *testing.B) {
	for _, clients := range []int{2, 32} {
		b.Run(fmt.Sprintf("clients=%d", clients), func(b *testing.B) {
			s, hc, url := benchServer(b)
			client := iam.NewFromConfig(sdkConfig(hc, s.Admin.AccessKeyID, s.Admin.SecretAccessKey), func(o *iam.Options) {
				o.BaseEndpoint = aws.String(url)
			})
			ctx := context.Background()
			var n atomic.Int64
			b.SetParallelism(max(1, clients/max(1, runtime.GOMAXPROCS(0))))
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					name := fmt.Sprintf("bench-%d", n.Add(1))
					if _, err := client.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String(name)}); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "req/s")
		})
	}
}

// BenchmarkAuthorize100 measures policy decisions for a user with 100
// attached managed policies, store reads included.
func BenchmarkAuthorize100(b *testing.B) {
	s, hc, url := benchServer(b)
	ctx := context.Background()
	client := iam.NewFromConfig(sdkConfig(hc, s.Admin.AccessKeyID, s.Admin.SecretAccessKey), func(o *iam.Options) {
		o.BaseEndpoint = aws.String(url)
	})
	if _, err := client.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String("carol")}); err != nil {
		b.Fatal(err)
	}
	for i := range 100 {
		doc := fmt.Sprintf(`{"Version":"2012-10-17","Statement":[
			{"Effect":"Allow","Action":["ec2:Describe*","ec2-instance-connect:OpenTunnel"],"Resource":"arn:aws:ec2:*:*:instance-connect-endpoint/eice-%017d",
			 "Condition":{"NumericEquals":{"ec2-instance-connect:remotePort":"22"},"IpAddress":{"aws:SourceIp":"10.%d.0.0/16"}}},
			{"Effect":"Deny","Action":"iam:*","Resource":"arn:aws:iam::*:user/admin-%d"}]}`, i, i%250, i)
		out, err := client.CreatePolicy(ctx, &iam.CreatePolicyInput{PolicyName: aws.String(fmt.Sprintf("p%03d", i)), PolicyDocument: aws.String(doc)})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := client.AttachUserPolicy(ctx, &iam.AttachUserPolicyInput{UserName: aws.String("carol"), PolicyArn: out.Policy.Arn}); err != nil {
			b.Fatal(err)
		}
	}
	authz := identity.NewAuthorizer(s.Store, nil)
	p := &identity.Principal{Type: identity.TypeIAMUser, AccountID: s.AccountID, ARN: "arn:aws:iam::" + s.AccountID + ":user/carol",
		UserName: "carol", Policies: store.PrincipalRef{Kind: store.KindUser, Name: "carol"}}
	extra := policy.Context{}
	extra.Set("ec2-instance-connect:remotePort", "22")
	info := identity.RequestInfo{SourceIP: "10.7.1.1", Secure: true}
	resource := fmt.Sprintf("arn:aws:ec2:us-east-1:%s:instance-connect-endpoint/eice-%017d", s.AccountID, 7)
	dec, err := authz.Authorize(ctx, p, info, "ec2-instance-connect:OpenTunnel", resource, extra)
	if err != nil || !dec.Allowed {
		b.Fatalf("decision %+v %v", dec, err)
	}
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := authz.Authorize(ctx, p, info, "ec2-instance-connect:OpenTunnel", resource, extra); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "decisions/s")
}
