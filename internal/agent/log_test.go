package agent_test

import (
	"context"
	"log/slog"
	"strconv"
	"testing"
	"time"

	"github.com/postern/postern/internal/testutil/tunneltest"
	"github.com/postern/postern/internal/wire/tunnelproto"
)

// capture is a slog.Handler that hands every record it is given, with
// its attributes (those of With included), to a channel.
type capture struct {
	level slog.Level
	attrs []slog.Attr
	ch    chan logLine
}

type logLine struct {
	level slog.Level
	msg   string
	attrs map[string]string
}

func (c *capture) Enabled(_ context.Context, l slog.Level) bool { return l >= c.level }

func (c *capture) Handle(_ context.Context, r slog.Record) error {
	line := logLine{level: r.Level, msg: r.Message, attrs: map[string]string{}}
	for _, a := range c.attrs {
		line.attrs[a.Key] = a.Value.String()
	}
	r.Attrs(func(a slog.Attr) bool {
		line.attrs[a.Key] = a.Value.String()
		return true
	})
	select {
	case c.ch <- line:
	default: // a test that stopped reading must not block the agent
	}
	return nil
}

func (c *capture) WithAttrs(as []slog.Attr) slog.Handler {
	n := *c
	n.attrs = append(append([]slog.Attr(nil), c.attrs...), as...)
	return &n
}

func (c *capture) WithGroup(string) slog.Handler { return c }

// waitLine returns the first captured line with the message msg (other
// lines are passed over), or fails after the limit.
func waitLine(t *testing.T, ch <-chan logLine, msg string) logLine {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for range 10000 {
		select {
		case l := <-ch:
			if l.msg == msg {
				return l
			}
		case <-deadline:
			t.Fatalf("no %q line logged", msg)
		}
	}
	t.Fatalf("no %q line among 10,000 lines", msg)
	return logLine{}
}

// The agent's per-tunnel log lines name the tunnel and its target: a
// refusal at Info, an open and a close at Debug (the target's address is
// formatted only when Debug is on; no line per open at Info).
func TestTunnelLogLines(t *testing.T) {
	e := tunneltest.Start(t, tunneltest.Options{Config: allPorts})
	ep := loopNet(t, e)
	echo := tunneltest.Echo(t)
	want := "127.0.0.1:" + strconv.Itoa(echo.Port)
	cases := []struct {
		name      string
		level     slog.Level
		loopback  bool
		wantLines []string // messages, in order
		wantCode  string   // of the refusal
		notLogged string   // a message that must not be logged before the tunnel's end is
	}{
		{name: "open and close at debug", level: slog.LevelDebug, loopback: true, wantLines: []string{"tunnel open", "tunnel closed"}},
		{name: "refusal at info", level: slog.LevelInfo, loopback: false, wantLines: []string{"tunnel refused"}, wantCode: tunnelproto.CodeNotAllowed},
		{name: "nothing per open at info", level: slog.LevelInfo, loopback: true, notLogged: "tunnel open"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := &capture{level: tc.level, ch: make(chan logLine, 1024)}
			cfg := fastCfg()
			cfg.AllowLoopback = tc.loopback
			cfg.Logger = slog.New(h)
			a := e.StartAgent(ep, cfg)
			defer a.Stop()
			e.WaitConnected(a.ID.AgentID, 10*time.Second)
			tun, err := e.Dialer(e.Admin).Dial(context.Background(), target(e, ep, echo.Port))
			if err != nil {
				t.Fatal(err)
			}
			if tc.loopback {
				echoOnce(t, tun)
			} else {
				closedWith(t, tun, 1011, "loopback")
			}
			tun.Close()
			if tc.notLogged != "" {
				// An open's line would precede its dial result, hence the
				// echoed byte: it would be in the channel already.
				for range cap(h.ch) {
					select {
					case l := <-h.ch:
						if l.msg == tc.notLogged {
							t.Fatalf("%q logged at %v with the logger at %v", l.msg, l.level, tc.level)
						}
					default:
						return
					}
				}
				return
			}
			id := ""
			for _, msg := range tc.wantLines {
				l := waitLine(t, h.ch, msg)
				if l.attrs["target"] != want {
					t.Errorf("%q: target %q, want %q", msg, l.attrs["target"], want)
				}
				if id == "" {
					id = l.attrs["tunnel"]
				}
				if l.attrs["tunnel"] == "" || l.attrs["tunnel"] != id {
					t.Errorf("%q: tunnel %q, want the tunnel's id (%q)", msg, l.attrs["tunnel"], id)
				}
				if tc.wantCode != "" && l.attrs["code"] != tc.wantCode {
					t.Errorf("%q: code %q, want %q", msg, l.attrs["code"], tc.wantCode)
				}
			}
		})
	}
}
