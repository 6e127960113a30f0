package api_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/postern/postern/internal/server/eice"
	"github.com/postern/postern/internal/store"
	"github.com/postern/postern/internal/testutil/procstat"
)

// replayBody is a request body read again from its start on every call.
type replayBody struct{ bytes.Reader }

func (*replayBody) Close() error { return nil }

// discardWriter is an http.ResponseWriter that keeps only the status and
// the body's length; its header map is emptied before every call.
type discardWriter struct {
	h      http.Header
	status int
	n      int
}

func (w *discardWriter) Header() http.Header { return w.h }
func (w *discardWriter) WriteHeader(s int)   { w.status = s }
func (w *discardWriter) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	w.n += len(p)
	return len(p), nil
}

// BenchmarkServeHTTP measures the dispatcher's own work for the two calls
// of issue 17's API target, without the network: one signed request (as
// the AWS SDK signs it) served again and again by Dispatcher.ServeHTTP,
// every call authenticated, authorized and recorded (committed to SQLite)
// as the server does (or, "unrecorded", without the record). -benchmem
// shows the allocations per call.
func BenchmarkServeHTTP(b *testing.B) {
	// recorded: as the server serves (the record committed before the
	// answer); unrecorded: the dispatcher's own work alone.
	for _, recorded := range []bool{true, false} {
		name := "recorded"
		if !recorded {
			name = "unrecorded"
		}
		b.Run(name, func(b *testing.B) { benchServeHTTP(b, recorded) })
	}
}

func benchServeHTTP(b *testing.B, recorded bool) {
	for _, c := range servedCalls(b, recorded) {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			cpu0 := procstat.CPUTime(os.Getpid())
			b.ResetTimer()
			for range b.N {
				c.serve()
			}
			b.StopTimer()
			// The process's CPU per call: the dispatcher's work and the
			// record's commit (the audit writer's goroutine) together.
			b.ReportMetric(float64((procstat.CPUTime(os.Getpid())-cpu0).Microseconds())/float64(b.N), "cpu-us/call")
		})
	}
}

// servedCall serves one signed request again each time serve is called
// and fails the test unless it succeeds.
type servedCall struct {
	name  string
	serve func()
}

// servedCalls are GetCallerIdentity and DescribeInstanceConnectEndpoints by
// id, each one request signed (with the headers the AWS SDK for Go v2 sends
// and signs) and served by a dispatcher on a new SQLite store holding one
// endpoint; recorded says whether the calls are recorded (committed) as
// the server records them. The first answer of each is checked whole.
func servedCalls(tb testing.TB, recorded bool) []servedCall {
	tb.Helper()
	e := startEdge(tb, edgeOptions{audited: recorded, metrics: true})
	ctx := context.Background()
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	epID := "eice-0123456789abcdef0"
	err := e.st.InTx(ctx, func(tx store.Repo) error {
		if err := tx.CreateVpc(ctx, store.Vpc{VpcID: "vpc-0000000000000b001", CidrBlock: "10.0.0.0/16", State: "available", CreateDate: at}); err != nil {
			return err
		}
		if err := tx.CreateSubnet(ctx, store.Subnet{SubnetID: "subnet-0000000000000b001", VpcID: "vpc-0000000000000b001", CidrBlock: "10.0.1.0/24",
			AvailabilityZone: "us-east-1a", AvailabilityZoneID: "use1-az1", State: "available", CreateDate: at}); err != nil {
			return err
		}
		if err := tx.CreateSecurityGroup(ctx, store.SecurityGroup{GroupID: "sg-0000000000000b001", GroupName: "default", Description: "default VPC security group",
			VpcID: "vpc-0000000000000b001", IsDefault: true, CreateDate: at}); err != nil {
			return err
		}
		return tx.CreateEndpoint(ctx, store.Endpoint{EndpointID: epID, ARN: "arn:aws:ec2:us-east-1:" + edgeAccount + ":instance-connect-endpoint/" + epID,
			OwnerID: edgeAccount, State: eice.CreateComplete, DNSName: epID + ".localhost", FipsDNSName: epID + ".localhost",
			SubnetID: "subnet-0000000000000b001", VpcID: "vpc-0000000000000b001", AvailabilityZone: "us-east-1a", AvailabilityZoneID: "use1-az1",
			IPAddressType: "ipv4", SecurityGroupIDs: []string{"sg-0000000000000b001"}, NetworkInterfaceIDs: []string{"eni-0000000000000b001"}, CreatedAt: at})
	})
	if err != nil {
		tb.Fatal(err)
	}
	cases := []struct {
		name, service, body, want string
	}{
		{"GetCallerIdentity", "sts", "Action=GetCallerIdentity&Version=2011-06-15", "<Arn>arn:aws:iam::" + edgeAccount + ":user/admin</Arn>"},
		{"DescribeEndpointByID", "ec2", "Action=DescribeInstanceConnectEndpoints&InstanceConnectEndpointId.1=" + epID + "&Version=2016-11-15",
			"<instanceConnectEndpointId>" + epID + "</instanceConnectEndpointId>"},
	}
	var out []servedCall
	for _, c := range cases {
		req := e.signed(tb, c.service, "", c.body, "", map[string]string{
			"User-Agent":            "aws-sdk-go-v2/1.36.3 ua/2.1 os/linux lang/go#1.25 md/GOOS#linux md/GOARCH#amd64 api/" + c.service + "#1.0",
			"Amz-Sdk-Invocation-Id": "58f12251-6737-4f99-93a2-c5648f94cff4",
			"Amz-Sdk-Request":       "attempt=1; max=3",
			"Accept-Encoding":       "identity",
		})
		req.RemoteAddr = "127.0.0.1:40000"
		req.RequestURI = "/"
		body := &replayBody{}
		req.Body = body
		rec := &recordingWriter{h: http.Header{}}
		body.Reset([]byte(c.body))
		e.d.ServeHTTP(rec, req)
		if rec.status != http.StatusOK || !strings.Contains(rec.body.String(), c.want) {
			tb.Fatalf("%s: answer %d:\n%s", c.name, rec.status, rec.body.String())
		}
		w := &discardWriter{h: http.Header{}}
		out = append(out, servedCall{name: c.name, serve: func() {
			body.Reset([]byte(c.body))
			clear(w.h)
			w.status, w.n = 0, 0
			e.d.ServeHTTP(w, req)
			if w.status != http.StatusOK {
				tb.Fatalf("%s: answer %d", c.name, w.status)
			}
		}})
	}
	return out
}

// recordingWriter keeps the whole answer.
type recordingWriter struct {
	h      http.Header
	status int
	body   bytes.Buffer
}

func (w *recordingWriter) Header() http.Header { return w.h }
func (w *recordingWriter) WriteHeader(s int)   { w.status = s }
func (w *recordingWriter) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.body.Write(p)
}

var _ io.ReadCloser = (*replayBody)(nil)
