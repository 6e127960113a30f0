package agent

import (
	"context"
	"log/slog"
	"sync"
	"testing"
)

// ql16Count counts the records logged at Warn.
type ql16Count struct {
	mu    sync.Mutex
	warns []string
}

func (c *ql16Count) Enabled(context.Context, slog.Level) bool { return true }
func (c *ql16Count) Handle(_ context.Context, r slog.Record) error {
	if r.Level >= slog.LevelWarn {
		c.mu.Lock()
		c.warns = append(c.warns, r.Message)
		c.mu.Unlock()
	}
	return nil
}
func (c *ql16Count) WithAttrs([]slog.Attr) slog.Handler { return c }
func (c *ql16Count) WithGroup(string) slog.Handler      { return c }

// TestQL16HeardPreserveWarnsOncePerChange: what the server says of the
// endpoint, in the order it says it (each link's answer and control
// message), and the warnings an agent logs: one per change to "preserves"
// when the host cannot, none when it can or nothing was said (an older
// server).
func TestQL16HeardPreserveWarnsOncePerChange(t *testing.T) {
	for _, tc := range []struct {
		name    string
		problem string
		heard   []bool
		want    int
	}{
		{"older server says nothing", "no routing", nil, 0},
		{"endpoint does not preserve, on every link", "no routing", []bool{false, false, false}, 0},
		{"endpoint preserves, said by three links", "no routing", []bool{true, true, true}, 1},
		{"modified to preserve, later", "no routing", []bool{false, false, true, true}, 1},
		{"on, off, on again", "no routing", []bool{true, false, true}, 2},
		{"host can preserve", "", []bool{true, false, true}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := &ql16Count{}
			a := &Agent{log: slog.New(c), preserveProblem: tc.problem}
			for _, on := range tc.heard {
				a.heardPreserve(on)
			}
			if len(c.warns) != tc.want {
				t.Fatalf("warnings %q; want %d", c.warns, tc.want)
			}
			for _, w := range c.warns {
				if w != cannotPreserve {
					t.Errorf("warned %q; want %q", w, cannotPreserve)
				}
			}
		})
	}
}
