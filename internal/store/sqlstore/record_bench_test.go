package sqlstore

import (
	"context"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/postern/postern/internal/store"
)

// recordBody is a read-only record's body of the usual size (~900 B).
func recordBody(id string) string {
	return `{"eventVersion":"1.08","userIdentity":{"type":"IAMUser","principalId":"AIDAEXAMPLEEXAMPLE01",` +
		`"arn":"arn:aws:iam::123456789012:user/alice","accountId":"123456789012","accessKeyId":"AKIAIOSFODNN7EXAMPLE",` +
		`"userName":"alice"},"eventTime":"2026-12-06T08:00:00Z","eventSource":"ec2.amazonaws.com",` +
		`"eventName":"DescribeInstanceConnectEndpoints","awsRegion":"us-east-1","sourceIPAddress":"203.0.113.7",` +
		`"userAgent":"aws-sdk-go-v2/1.36.3 ua/2.1 os/linux lang/go#1.24 md/GOOS#linux md/GOARCH#amd64 api/ec2#1.200.0",` +
		`"requestParameters":{"instanceConnectEndpointIds":["eice-0123456789abcdef0"]},"responseElements":null,` +
		`"requestID":"83c3f923-507f-7265-fabb-967ec5c4e1fe","eventID":"` + id + `","readOnly":true,"eventType":"AwsApiCall",` +
		`"managementEvent":true,"recipientAccountId":"123456789012","eventCategory":"Management"}`
}

var recordNames = []string{"DescribeInstanceConnectEndpoints", "GetCallerIdentity", "DescribeInstances"}

func benchRecord(ordered bool, i int) store.Event {
	id := uuid.NewString()
	if ordered {
		id = uuid.Must(uuid.NewV7()).String()
	}
	return store.Event{EventID: id, EventTime: time.Now(), EventSource: "ec2.amazonaws.com", EventName: recordNames[i%len(recordNames)],
		ReadOnly: true, Username: "alice", AccessKeyID: "AKIAIOSFODNN7EXAMPLE", RequestID: "83c3f923-507f-7265-fabb-967ec5c4e1fe",
		Body: recordBody(id)}
}

func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkReadOnlyRecord: the record of a read-only API call committed
// alone (AppendEventsUnsynced of one event, as the audit writer does when
// calls do not overlap), into a database already holding 100,000 records,
// with random (version 4) and time-ordered (version 7, audit's) event ids;
// and in batches of 4. cpu-us/record is the process's CPU per record
// (SQLite's checkpoints included); p99.9-us and max-us the wall time of
// the slowest appends.
func BenchmarkReadOnlyRecord(b *testing.B) {
	for _, c := range []struct {
		name    string
		ordered bool
		batch   int
	}{
		{"random-ids", false, 1},
		{"ordered-ids", true, 1},
		{"ordered-ids/batch4", true, 4},
	} {
		b.Run(c.name, func(b *testing.B) {
			ctx := context.Background()
			s, _ := openTemp(b, defaultSQLiteOptions())
			for i := range 1000 {
				evs := make([]store.Event, 100)
				for j := range evs {
					evs[j] = benchRecord(c.ordered, i*100+j)
				}
				if err := s.AppendEventsUnsynced(ctx, evs); err != nil {
					b.Fatal(err)
				}
			}
			evs := make([]store.Event, c.batch)
			i := 0
			var took []time.Duration
			cpu := processCPU()
			for b.Loop() {
				for j := range evs {
					evs[j] = benchRecord(c.ordered, i)
					i++
				}
				start := time.Now()
				if err := s.AppendEventsUnsynced(ctx, evs); err != nil {
					b.Fatal(err)
				}
				took = append(took, time.Since(start))
			}
			b.ReportMetric(float64((processCPU()-cpu).Microseconds())/float64(b.N*c.batch), "cpu-us/record")
			slices.Sort(took)
			b.ReportMetric(float64(took[len(took)*999/1000].Microseconds()), "p99.9-us")
			b.ReportMetric(float64(took[len(took)-1].Microseconds()), "max-us")
		})
	}
}
