package frontdoor_test

import (
	"context"
	"encoding/json"
	"io"
	"math"
	"testing"
	"time"

	"github.com/postern/postern/internal/store"
	"github.com/postern/postern/internal/testutil/tunneltest"
)

// TestR1CloseRecordTimesAgreeWithTheOpen: a CloseTunnel's openedAt and
// durationSeconds never contradict the OpenTunnel record they close, for
// a tunnel whose dial failed (failedOpen: openedAt is the 101, a moment
// after the request the OpenTunnel's eventTime names) as for one that
// carried bytes (openedAt is when its dial answered): the OpenTunnel's
// time ≤ openedAt ≤ the CloseTunnel's time, and durationSeconds is the
// span from openedAt to the CloseTunnel's time. (What reads these
// records — LookupEvents, the console's trail — shows the CloudTrail
// fields, eventTime at one-second precision; none derives a time from
// openedAt.)
func TestR1CloseRecordTimesAgreeWithTheOpen(t *testing.T) {
	e := startAll(t)
	ctx := context.Background()
	echo := tunneltest.Echo(t)
	cases := []struct {
		name   string
		port   int
		reason string
	}{
		{"dial failed", closedPort(t), "ConnectionRefused"},
		{"carried bytes", echo.Port, "Normal"},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tun, err := e.Dialer(e.Admin).Dial(ctx, e.Local(c.port))
			if err != nil {
				t.Fatal(err)
			}
			if c.reason == "Normal" {
				if err := tunneltest.RoundTrip(tun, []byte("ping")); err != nil {
					t.Fatal(err)
				}
				_ = tun.CloseWrite()
			}
			_, _ = io.Copy(io.Discard, tun)
			tun.Close()
			closes := e.WaitEvents(store.EventQuery{EventName: "CloseTunnel"}, 10*time.Second, func(evs []store.Event) bool { return len(evs) == i+1 })
			cl := closes[0] // newest first
			var rec struct {
				D struct {
					closeDetails
					OpenedAt        string  `json:"openedAt"`
					DurationSeconds float64 `json:"durationSeconds"`
				} `json:"serviceEventDetails"`
			}
			if err := json.Unmarshal([]byte(cl.Body), &rec); err != nil {
				t.Fatal(err)
			}
			if rec.D.Reason != c.reason {
				t.Fatalf("CloseTunnel reason %q, want %q", rec.D.Reason, c.reason)
			}
			var open store.Event
			for _, ev := range events(t, e, "OpenTunnel") {
				if ev.EventID == rec.D.OpenEventID {
					open = ev
				}
			}
			if open.EventID == "" {
				t.Fatalf("no OpenTunnel record %s", rec.D.OpenEventID)
			}
			opened, err := time.Parse(time.RFC3339Nano, rec.D.OpenedAt)
			if err != nil {
				t.Fatal(err)
			}
			if opened.Before(open.EventTime) || cl.EventTime.Before(opened) {
				t.Fatalf("OpenTunnel at %v, openedAt %v, CloseTunnel at %v: out of order", open.EventTime, opened, cl.EventTime)
			}
			if d := cl.EventTime.Sub(opened).Seconds(); math.Abs(d-rec.D.DurationSeconds) > 0.001 {
				t.Fatalf("durationSeconds %v, the records span %v s from openedAt", rec.D.DurationSeconds, d)
			}
		})
	}
}
