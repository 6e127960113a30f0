package audit

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/postern/postern/internal/store"
	"github.com/postern/postern/internal/store/sqlstore"
	"github.com/postern/postern/internal/store/storetest"
)

// openRec is the OpenTunnel record of a tunnel opened at at by the role
// session, with request id req.
func openRec(id, req string, opened time.Time) Record {
	m := meta(role(), id)
	m.Time, m.RequestID = opened, req
	return OpenTunnel(m, params, eiceARN, OpenTunnelData{TunnelID: "tun-" + req, AgentID: "agent-1"}, "", "")
}

// closeRecord decodes a CloseTunnel record's body.
type closeRecord struct {
	EventName           string       `json:"eventName"`
	EventID             string       `json:"eventID"`
	EventTime           string       `json:"eventTime"`
	UserIdentity        UserIdentity `json:"userIdentity"`
	SourceIPAddress     string       `json:"sourceIPAddress"`
	RequestID           string       `json:"requestID"`
	Resources           []Resource   `json:"resources"`
	ServiceEventDetails CloseDetails `json:"serviceEventDetails"`
}

// CloseUnclosedTunnels records, once, the close of the journalled
// tunnels of carriers not kept, with what their OpenTunnel record says
// (who, from where, which endpoint and target, the request id), the
// reason, an abnormal close code and the best known end; the records go
// to the sinks. A tunnel closed normally, or carried by a kept carrier,
// is left alone.
func TestCloseUnclosedTunnels(t *testing.T) {
	ctx := context.Background()
	st, err := sqlstore.OpenSQLite(ctx, filepath.Join(t.TempDir(), "postern.db"), slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	sinkPath := filepath.Join(t.TempDir(), "audit.jsonl")
	sink, err := NewFileSink(sinkPath, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	w := NewWriter(st, func(err error) { t.Errorf("sink: %v", err) }, sink)

	opened := time.Now().Add(-10 * time.Minute).UTC().Truncate(time.Microsecond)
	st.SetTunnelCarrier("old")
	open1, open2 := openRec("", "r1", opened), openRec("", "r2", opened)
	for _, r := range []Record{open1, open2} {
		if err := w.Write(ctx, r, r.AdditionalEventData.(OpenTunnelData).TunnelID, params.InstanceConnectEndpointID); err != nil {
			t.Fatal(err)
		}
	}
	normal := CloseTunnel(meta(role(), ""), CloseDetails{TunnelID: "tun-r1", Reason: "Normal"}, eiceARN)
	if err := w.Write(ctx, normal, "tun-r1", params.InstanceConnectEndpointID); err != nil {
		t.Fatal(err)
	}
	st.SetTunnelCarrier("new")
	open3 := openRec("", "r3", opened)
	if err := w.Write(ctx, open3, "tun-r3", params.InstanceConnectEndpointID); err != nil {
		t.Fatal(err)
	}

	u := Unclosed{Keep: []string{"new"}, Reason: ReasonServerRestart, LastAlive: opened.Add(5 * time.Second)}
	for i, want := range []int{1, 0} { // the second run finds nothing left
		n, err := w.CloseUnclosedTunnels(ctx, st, u)
		if err != nil || n != want {
			t.Fatalf("run %d: closed %d, %v; want %d", i, n, err, want)
		}
	}
	evs, err := st.ListEvents(ctx, store.EventQuery{EventName: EventCloseTunnel, Limit: -1})
	if err != nil {
		t.Fatal(err)
	}
	var got []store.Event
	for _, e := range evs {
		if e.TunnelID == "tun-r2" {
			got = append(got, e)
		}
	}
	if len(got) != 1 {
		t.Fatalf("%d CloseTunnel records of tun-r2, want 1", len(got))
	}
	e := got[0]
	if e.EventID != UnclosedEventID("tun-r2") || !e.EventTime.Equal(opened.Add(5*time.Second)) || e.RequestID != "r2" ||
		e.Username != "ops" || e.AccessKeyID != "ASIAEXAMPLEEXAMPLE01" || e.ResourceName != params.InstanceConnectEndpointID {
		t.Fatalf("recovered record's columns: %+v", e)
	}
	var rec closeRecord
	if err := json.Unmarshal([]byte(e.Body), &rec); err != nil {
		t.Fatal(err)
	}
	want := CloseDetails{TunnelID: "tun-r2", AgentID: "agent-1", OpenAgentID: "agent-1", DurationSeconds: 5, Reason: ReasonServerRestart,
		CloseCode: 1006, Message: unclosedMessage, OpenEventID: open2.EventID, OpenedAt: opened.Format(time.RFC3339Nano),
		RemotePort: "22", PrivateIP: "10.0.1.10", EndpointID: params.InstanceConnectEndpointID}
	if rec.ServiceEventDetails != want {
		t.Fatalf("serviceEventDetails\n got %+v\nwant %+v", rec.ServiceEventDetails, want)
	}
	if rec.EventName != EventCloseTunnel || rec.RequestID != "r2" || rec.SourceIPAddress != "203.0.113.7" ||
		!reflect.DeepEqual(rec.UserIdentity, open2.UserIdentity) || len(rec.Resources) != 1 || rec.Resources[0].ARN != eiceARN {
		t.Fatalf("recovered record: %+v", rec)
	}
	// tun-r3 (kept carrier) is still open, tun-r1 closed once.
	left, err := storetest.UnclosedTunnels(ctx, st, nil, time.Time{}, 0)
	if err != nil || len(left) != 1 || left[0].TunnelID != "tun-r3" {
		t.Fatalf("left in the journal: %+v, %v", left, err)
	}
	// The sink has the record too.
	w.CloseSinks()
	b, err := os.ReadFile(sinkPath)
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(b), `"eventID":"`+UnclosedEventID("tun-r2")+`"`); n != 1 {
		t.Fatalf("the audit file holds the recovered record %d times, want 1:\n%s", n, b)
	}
}

// The end time is the latest known sign of life, not before the open, not
// past the tunnel's maximum duration nor now.
func TestUnclosedEndTime(t *testing.T) {
	opened := time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)
	body, err := encodeRecord(func() *Record { r := openRec("ev-open", "r1", opened); return &r }())
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name                          string
		lastAlive, seen, bytesAt, now time.Time
		want                          time.Time
	}{
		{"nothing known", time.Time{}, time.Time{}, time.Time{}, opened.Add(time.Hour * 5), opened},
		{"alive before the open", opened.Add(-time.Minute), time.Time{}, time.Time{}, opened.Add(time.Hour * 5), opened},
		{"last record", opened.Add(90 * time.Second), time.Time{}, time.Time{}, opened.Add(time.Hour * 5), opened.Add(90 * time.Second)},
		{"replica's announce latest", opened.Add(time.Second), opened.Add(time.Minute), opened.Add(30 * time.Second), opened.Add(time.Hour * 5), opened.Add(time.Minute)},
		{"bytes published latest", time.Time{}, opened.Add(time.Second), opened.Add(2 * time.Minute), opened.Add(time.Hour * 5), opened.Add(2 * time.Minute)},
		{"past the maximum duration", opened.Add(2 * time.Hour), time.Time{}, time.Time{}, opened.Add(time.Hour * 5), opened.Add(time.Hour)},
		{"not past now", opened.Add(50 * time.Minute), time.Time{}, time.Time{}, opened.Add(20 * time.Minute), opened.Add(20 * time.Minute)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			u := store.UnclosedTunnel{TunnelID: "tun-r1", Carrier: "old", CarrierSeen: tc.seen, BytesAt: tc.bytesAt, BytesIn: 3, BytesOut: 4,
				Open: store.Event{EventID: "ev-open", EventTime: opened, EventName: EventOpenTunnel, TunnelID: "tun-r1", Body: body}}
			e, err := unclosedEvent(u, Unclosed{Reason: ReasonReplicaGone, LastAlive: tc.lastAlive}, tc.now)
			if err != nil {
				t.Fatal(err)
			}
			if !e.EventTime.Equal(tc.want) {
				t.Fatalf("end %v, want %v", e.EventTime, tc.want)
			}
			var rec closeRecord
			if err := json.Unmarshal([]byte(e.Body), &rec); err != nil {
				t.Fatal(err)
			}
			d := rec.ServiceEventDetails
			if d.DurationSeconds != tc.want.Sub(opened).Seconds() || d.BytesIn != 3 || d.BytesOut != 4 || d.Reason != ReasonReplicaGone {
				t.Fatalf("details %+v", d)
			}
		})
	}
	// A record that cannot be read still gets its close, from the
	// journal's columns: it must not stop the recovery of the others.
	e, err := unclosedEvent(store.UnclosedTunnel{TunnelID: "t", Open: store.Event{EventID: "ev-x", EventTime: opened, RequestID: "rq",
		AccessKeyID: "AKIDX", Body: "{"}}, Unclosed{Reason: ReasonServerRestart}, opened.Add(time.Hour))
	if err != nil || e.TunnelID != "t" || e.RequestID != "rq" || e.AccessKeyID != "AKIDX" || !strings.Contains(e.Body, `"openEventId":"ev-x"`) {
		t.Fatalf("close of an unreadable open: %+v, %v", e, err)
	}
}
