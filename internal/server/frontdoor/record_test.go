package frontdoor_test

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/postern/postern/internal/store"
	"github.com/postern/postern/internal/store/storetest"
	"github.com/postern/postern/internal/testutil/tunneltest"
)

// closeDetails reads a CloseTunnel record's serviceEventDetails.
type closeDetails struct {
	TunnelID    string `json:"tunnelId"`
	AgentID     string `json:"agentId"`
	BytesIn     int64  `json:"bytesIn"`
	BytesOut    int64  `json:"bytesOut"`
	Reason      string `json:"reason"`
	CloseCode   int    `json:"closeCode"`
	Message     string `json:"message"`
	OpenEventID string `json:"openEventId"`
}

func readClose(t *testing.T, ev store.Event) closeDetails {
	t.Helper()
	var rec struct {
		D closeDetails `json:"serviceEventDetails"`
	}
	if err := json.Unmarshal([]byte(ev.Body), &rec); err != nil {
		t.Fatalf("CloseTunnel %s: %v", ev.EventID, err)
	}
	return rec.D
}

// openAgent reads the agent an OpenTunnel record names.
func openAgent(t *testing.T, ev store.Event) string {
	t.Helper()
	var rec struct {
		D struct {
			AgentID string `json:"agentId"`
		} `json:"additionalEventData"`
	}
	if err := json.Unmarshal([]byte(ev.Body), &rec); err != nil {
		t.Fatalf("OpenTunnel %s: %v", ev.EventID, err)
	}
	return rec.D.AgentID
}

// journalled lists the tunnels the store's journal shows open.
func journalled(t *testing.T, e *tunneltest.Env) []string {
	t.Helper()
	j, ok := e.Server.Store.(store.TunnelJournal)
	if !ok {
		t.Fatal("the test store keeps no journal of open tunnels")
	}
	uts, err := storetest.UnclosedTunnels(context.Background(), j, nil, time.Time{}, 0)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, u := range uts {
		ids = append(ids, u.TunnelID)
	}
	return ids
}

// TestFailedDialClosesTheOpenedTunnel: a dial that fails after the 101
// (the target refuses) leaves the trail of a tunnel that opened and whose
// target failed at once: OpenTunnel (success, naming the agent), then
// CloseTunnel whose reason and message are the dial's failure (closeCode
// 1011, no byte), committed before the client reads its close frame, and
// the journal of open tunnels is empty again. It is still counted where
// operators count failed dials (tunnels_refused_total{reason="dial"}),
// neither opened nor closed. Before, the attempt was one OpenTunnel with
// errorCode ConnectionRefused and no CloseTunnel.
func TestFailedDialClosesTheOpenedTunnel(t *testing.T) {
	e := startAll(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go e.Server.ServeMetrics(ln)
	tun, err := e.Dialer(e.Admin).Dial(context.Background(), e.Local(closedPort(t)))
	if err != nil {
		t.Fatalf("want the upgrade, then a close: %v", err)
	}
	closedWith(t, tun, 1011, "Connection refused")
	tun.Close()
	// No wait: the close was on record before its frame left.
	opens, closes := events(t, e, "OpenTunnel"), events(t, e, "CloseTunnel")
	if len(opens) != 1 || opens[0].ErrorCode != "" || opens[0].TunnelID == "" {
		t.Fatalf("OpenTunnel records %+v, want one that succeeded", opens)
	}
	agentID := openAgent(t, opens[0])
	if len(closes) != 1 {
		t.Fatalf("%d CloseTunnel records when the client read its close frame, want 1", len(closes))
	}
	d := readClose(t, closes[0])
	if closes[0].TunnelID != opens[0].TunnelID || d.OpenEventID != opens[0].EventID || d.Reason != "ConnectionRefused" ||
		d.CloseCode != 1011 || !strings.Contains(d.Message, "Connection refused") || d.BytesIn != 0 || d.BytesOut != 0 ||
		agentID == "" || d.AgentID != agentID {
		t.Fatalf("CloseTunnel %+v after OpenTunnel %s naming agent %q: want ConnectionRefused, 1011, the dial's message, no bytes, the same agent",
			d, opens[0].EventID, agentID)
	}
	if j := journalled(t, e); len(j) != 0 {
		t.Fatalf("journal of open tunnels %v, want none", j)
	}
	resp, err := e.HTTP.Get("https://" + ln.Addr().String() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	text, _ := io.ReadAll(resp.Body)
	for series, want := range map[string]float64{
		`postern_tunnels_refused_total{reason="dial"}`: 1,
		`postern_tunnels_opened_total`:                 0,
		`postern_tunnels_open`:                         0,
	} {
		m := regexp.MustCompile("(?m)^" + regexp.QuoteMeta(series) + ` ([0-9.e+]+)$`).FindSubmatch(text)
		got := 0.0
		if m != nil {
			got, _ = strconv.ParseFloat(string(m[1]), 64)
		}
		if got != want {
			t.Errorf("%s = %v, want %v", series, got, want)
		}
	}
}
