package apibench

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/postern/postern/internal/testutil/posternbin"
)

// callers is the number of concurrent SDK callers (issue 17: 8).
const callers = 8

// server is a running `postern server` process.
type server struct {
	cmd    *exec.Cmd
	out    *lockedBuffer
	done   chan struct{}
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
	s := &server{out: &lockedBuffer{}, done: make(chan struct{})}
	s.cmd = exec.Command(posternbin.Path(b), "server", "--data-dir", dataDir, "--listen", "127.0.0.1:0")
	s.cmd.Env = os.Environ() // posternbin.Run dropped AWS_* already
	s.cmd.Stdout, s.cmd.Stderr = s.out, s.out
	if err := s.cmd.Start(); err != nil {
		b.Fatal(err)
	}
	go func() { _ = s.cmd.Wait(); close(s.done) }()
	b.Cleanup(func() {
		_ = s.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-s.done:
		case <-time.After(20 * time.Second):
			_ = s.cmd.Process.Kill()
			<-s.done
		}
	})
	// Bounded poll of the server's output for its start-up banner.
	deadline := time.Now().Add(60 * time.Second)
	for !strings.Contains(s.out.String(), "postern sts get-caller-identity") {
		select {
		case <-s.done:
			b.Fatalf("the server exited:\n%s", s.out.String())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			b.Fatalf("the server did not start:\n%s", s.out.String())
		}
	}
	m := runningOn.FindStringSubmatch(s.out.String())
	if m == nil {
		b.Fatalf("no address in the server's output:\n%s", s.out.String())
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

// cpuTime is a process's user and system CPU time so far, from
// /proc/PID/stat (clock ticks of 10 ms).
func cpuTime(pid int) time.Duration {
	raw, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0
	}
	s := string(raw)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * 10 * time.Millisecond // USER_HZ is 100 on Linux
}

// run runs call b.N times from callers goroutines and reports req/s and
// the server's CPU per call.
func (s *server) run(b *testing.B, call func(ctx context.Context) error) {
	ctx := context.Background()
	// A warm-up call per caller opens its connection.
	for range callers {
		if err := call(ctx); err != nil {
			b.Fatalf("warm-up: %v\nserver:\n%s", err, s.out.String())
		}
	}
	cpu0, self0 := cpuTime(s.cmd.Process.Pid), cpuTime(os.Getpid())
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
	cpu, self := cpuTime(s.cmd.Process.Pid)-cpu0, cpuTime(os.Getpid())-self0
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
		b.Fatalf("CreateVpc: %v\n%s", err, s.out.String())
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

// lockedBuffer collects a child's output.
type lockedBuffer struct {
	mu sync.Mutex // guards b
	b  strings.Builder
}

func (w *lockedBuffer) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

func (w *lockedBuffer) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.String()
}
