package apibench

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/postern/postern/internal/testutil/posternbin"
	"github.com/postern/postern/internal/testutil/procstat"
)

// callers is the number of concurrent SDK callers (issue 17: 8).
const callers = 8

// server is a running `postern server` process.
type server struct {
	*posternbin.Proc
	url    string
	client *http.Client
	cfg    aws.Config
}

var runningOn = regexp.MustCompile(`Postern is running on (\S+)`)

// startServer starts `postern server` on 127.0.0.1:0 with a fresh data
// directory (no embedded agent: only the API is measured) and returns
// once it serves, with an SDK configuration of its administrator.
func startServer(b *testing.B) *server {
	b.Helper()
	dataDir := filepath.Join(b.TempDir(), "data")
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dataDir, "postern.yaml"), []byte("version: 1\nlog_level: warn\nagent:\n  embedded: false\n"), 0o600); err != nil {
		b.Fatal(err)
	}
	// posternbin.Run dropped AWS_* already.
	s := &server{Proc: posternbin.Start(b, os.Environ(), "server", "--data-dir", dataDir, "--listen", "127.0.0.1:0")}
	s.WaitFor(b, "the server to start", 60*time.Second, func() bool {
		return strings.Contains(s.Out.String(), "postern sts get-caller-identity")
	})
	m := runningOn.FindStringSubmatch(s.Out.String())
	if m == nil {
		b.Fatalf("no address in the server's output:\n%s", s.Out.String())
	}
	s.url = strings.TrimSuffix(m[1], "/")
	akid, secret := readCredentials(b, filepath.Join(dataDir, "credentials"))
	ca, err := os.ReadFile(filepath.Join(dataDir, "ca.pem"))
	if err != nil {
		b.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(ca)
	s.client = &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots},
		MaxIdleConnsPerHost: 2 * callers, ForceAttemptHTTP2: false}}
	s.cfg = aws.Config{Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider(akid, secret, ""),
		HTTPClient: s.client}
	return s
}

func readCredentials(b *testing.B, path string) (akid, secret string) {
	b.Helper()
	creds, err := os.ReadFile(path)
	if err != nil {
		b.Fatal(err)
	}
	for _, line := range strings.Split(string(creds), "\n") {
		if k, v, ok := strings.Cut(line, "="); ok {
			switch strings.TrimSpace(k) {
			case "aws_access_key_id":
				akid = strings.TrimSpace(v)
			case "aws_secret_access_key":
				secret = strings.TrimSpace(v)
			}
		}
	}
	if akid == "" || secret == "" {
		b.Fatalf("no credentials in %s", path)
	}
	return akid, secret
}

// run runs call b.N times from callers goroutines and reports req/s and
// the server's CPU per call.
func (s *server) run(b *testing.B, call func(ctx context.Context) error) {
	ctx := context.Background()
	// A warm-up call per caller opens its connection.
	for range callers {
		if err := call(ctx); err != nil {
			b.Fatalf("warm-up: %v\nserver:\n%s", err, s.Out.String())
		}
	}
	cpu0, self0 := procstat.CPUTime(s.Cmd.Process.Pid), procstat.CPUTime(os.Getpid())
	b.SetParallelism(max(1, callers/runtime.GOMAXPROCS(0)))
	b.ResetTimer()
	var once sync.Once
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := call(ctx); err != nil {
				once.Do(func() { b.Error(err) })
				return
			}
		}
	})
	b.StopTimer()
	cpu, self := procstat.CPUTime(s.Cmd.Process.Pid)-cpu0, procstat.CPUTime(os.Getpid())-self0
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "req/s")
	b.ReportMetric(float64(cpu.Microseconds())/float64(b.N), "server-cpu-us/call")
	// The benchmark process: the SDK callers (and the benchmark's own
	// bookkeeping). Server and callers together bound the rate two
	// cores allow: 2 s / (server + client CPU per call).
	b.ReportMetric(float64(self.Microseconds())/float64(b.N), "client-cpu-us/call")
}

// BenchmarkAPIBinary measures the signed API of the `postern server`
// binary with 8 concurrent AWS SDK for Go v2 callers, beside GET /healthz
// on the same listener and client.
func BenchmarkAPIBinary(b *testing.B) {
	s := startServer(b)
	ctx := context.Background()
	stsc := sts.NewFromConfig(s.cfg, func(o *sts.Options) { o.BaseEndpoint = aws.String(s.url) })
	ec2c := ec2.NewFromConfig(s.cfg, func(o *ec2.Options) { o.BaseEndpoint = aws.String(s.url) })
	vpc, err := ec2c.CreateVpc(ctx, &ec2.CreateVpcInput{CidrBlock: aws.String("10.0.0.0/16")})
	if err != nil {
		b.Fatalf("CreateVpc: %v\n%s", err, s.Out.String())
	}
	sn, err := ec2c.CreateSubnet(ctx, &ec2.CreateSubnetInput{VpcId: vpc.Vpc.VpcId, CidrBlock: aws.String("10.0.1.0/24")})
	if err != nil {
		b.Fatalf("CreateSubnet: %v", err)
	}
	ep, err := ec2c.CreateInstanceConnectEndpoint(ctx, &ec2.CreateInstanceConnectEndpointInput{SubnetId: sn.Subnet.SubnetId})
	if err != nil {
		b.Fatalf("CreateInstanceConnectEndpoint: %v", err)
	}
	epID := aws.ToString(ep.InstanceConnectEndpoint.InstanceConnectEndpointId)

	b.Run("healthz", func(b *testing.B) {
		s.run(b, func(ctx context.Context) error {
			resp, err := s.client.Get(s.url + "/healthz")
			if err != nil {
				return err
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				return fmt.Errorf("/healthz: %s", resp.Status)
			}
			return nil
		})
	})
	b.Run("GetCallerIdentity", func(b *testing.B) {
		s.run(b, func(ctx context.Context) error {
			_, err := stsc.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
			return err
		})
	})
	b.Run("DescribeEndpointByID", func(b *testing.B) {
		s.run(b, func(ctx context.Context) error {
			out, err := ec2c.DescribeInstanceConnectEndpoints(ctx, &ec2.DescribeInstanceConnectEndpointsInput{InstanceConnectEndpointIds: []string{epID}})
			if err == nil && len(out.InstanceConnectEndpoints) != 1 {
				err = fmt.Errorf("%d endpoints, want 1", len(out.InstanceConnectEndpoints))
			}
			return err
		})
	})
}
