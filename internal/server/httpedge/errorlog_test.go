package httpedge

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// lines records what reaches the log, one string per record: the message,
// and for a summary the number left out and the last one.
type lines struct {
	mu  sync.Mutex
	out []string
}

func (l *lines) Enabled(context.Context, slog.Level) bool { return true }
func (l *lines) WithAttrs([]slog.Attr) slog.Handler       { return l }
func (l *lines) WithGroup(string) slog.Handler            { return l }
func (l *lines) Handle(_ context.Context, r slog.Record) error {
	s := r.Message
	if r.Message == SummaryMessage {
		r.Attrs(func(a slog.Attr) bool {
			if a.Key == "suppressed" || a.Key == "last" {
				s += fmt.Sprintf(" %s=%v", a.Key, a.Value)
			}
			return true
		})
	}
	l.mu.Lock()
	l.out = append(l.out, s)
	l.mu.Unlock()
	return nil
}

// fakeClock is the handler's clock: time moves and timers fire only when
// the test says.
type fakeClock struct {
	now    time.Time
	timers []fakeTimer
}

type fakeTimer struct {
	at time.Time
	f  func()
}

func (c *fakeClock) afterFunc(d time.Duration, f func()) {
	c.timers = append(c.timers, fakeTimer{c.now.Add(d), f})
}

// fire runs the timers due at the current time.
func (c *fakeClock) fire() {
	var due []func()
	keep := c.timers[:0]
	for _, t := range c.timers {
		if !t.at.After(c.now) {
			due = append(due, t.f)
		} else {
			keep = append(keep, t)
		}
	}
	c.timers = keep
	for _, f := range due {
		f()
	}
}

// A flood of failed handshakes writes Burst lines per window and then one
// line with the count it left out; other ErrorLog lines all pass.
func TestErrorLogHandlerLimitsHandshakeErrors(t *testing.T) {
	hs := func(i int) string { return fmt.Sprintf("http: TLS handshake error from 192.0.2.1:%d: EOF", i) }
	other := "http: Accept error: too many open files; retrying in 5ms"
	type step struct {
		at    time.Duration // the clock, from the start
		lines []string      // logged then, in order; none: the timers due fire
	}
	n := func(from, to int) []string { // handshake errors from..to
		var out []string
		for i := from; i <= to; i++ {
			out = append(out, hs(i))
		}
		return out
	}
	tests := []struct {
		name  string
		burst int
		steps []step
		want  []string
	}{
		{name: "within the burst", burst: 3,
			steps: []step{{0, n(1, 3)}, {time.Minute, nil}},
			want:  n(1, 3)},
		{name: "a flood", burst: 3,
			steps: []step{{0, n(1, 5)}, {30 * time.Second, n(6, 10)}, {time.Minute, nil}},
			want:  append(n(1, 3), SummaryMessage+" suppressed=7 last="+hs(10))},
		{name: "other lines always pass", burst: 1,
			steps: []step{{0, []string{other, hs(1), other, hs(2), other}}, {time.Minute, nil}},
			want:  []string{other, hs(1), other, other, SummaryMessage + " suppressed=1 last=" + hs(2)}},
		{name: "a new window after the summary", burst: 2,
			steps: []step{{0, n(1, 5)}, {time.Minute, nil}, {61 * time.Second, n(6, 8)}, {2 * time.Minute, nil}, {121 * time.Second, nil}},
			want: slices.Concat(n(1, 2), []string{SummaryMessage + " suppressed=3 last=" + hs(5)}, n(6, 7),
				[]string{SummaryMessage + " suppressed=1 last=" + hs(8)})},
		{name: "the window's timer is late", burst: 2,
			steps: []step{{0, n(1, 4)}, {70 * time.Second, n(5, 5)}, {70 * time.Second, nil}, {130 * time.Second, nil}},
			want:  slices.Concat(n(1, 2), []string{SummaryMessage + " suppressed=2 last=" + hs(4)}, n(5, 5))},
		{name: "the window ends at its length", burst: 1,
			steps: []step{{0, n(1, 1)}, {time.Minute - time.Millisecond, n(2, 2)}, {time.Minute, n(3, 3)}, {2 * time.Minute, nil}},
			want:  slices.Concat(n(1, 1), []string{SummaryMessage + " suppressed=1 last=" + hs(2)}, n(3, 3))},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
			clock := &fakeClock{now: start}
			got := &lines{}
			h := ErrorLogHandler(got, LogLimit{Burst: tc.burst, Window: time.Minute,
				Now: func() time.Time { return clock.now }, AfterFunc: clock.afterFunc})
			logger := slog.NewLogLogger(h, slog.LevelWarn) // as http.Server.ErrorLog
			for _, s := range tc.steps {
				clock.now = start.Add(s.at)
				if s.lines == nil {
					clock.fire()
				}
				for _, l := range s.lines {
					logger.Print(l)
				}
			}
			if !slices.Equal(got.out, tc.want) {
				t.Fatalf("logged:\n  %s\nwant:\n  %s", strings.Join(got.out, "\n  "), strings.Join(tc.want, "\n  "))
			}
		})
	}
}

// Copies of the handler (WithAttrs) share one count.
func TestErrorLogHandlerCopiesShareTheWindow(t *testing.T) {
	got := &lines{}
	h := ErrorLogHandler(got, LogLimit{Burst: 2, AfterFunc: func(time.Duration, func()) {}})
	a, b := slog.New(h), slog.New(h.WithAttrs([]slog.Attr{slog.String("component", "http")}))
	for i := range 4 {
		a.Warn(fmt.Sprint(HandshakeErrorPrefix, " a", i))
		b.Warn(fmt.Sprint(HandshakeErrorPrefix, " b", i))
	}
	if len(got.out) != 2 {
		t.Fatalf("logged %d lines, want 2: %q", len(got.out), got.out)
	}
}
