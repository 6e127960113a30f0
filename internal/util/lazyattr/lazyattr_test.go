package lazyattr

import (
	"bytes"
	"context"
	"log/slog"
	"testing"
)

// The logger writes exactly what logger.With(attr) writes,
// through attributes, groups and levels.
func TestMatchesWith(t *testing.T) {
	tests := []struct {
		name string
		log  func(l *slog.Logger)
	}{
		{"plain", func(l *slog.Logger) { l.Info("access key created", "user", "bob") }},
		{"attrs", func(l *slog.Logger) {
			l.LogAttrs(context.Background(), slog.LevelWarn, "denied", slog.String("principal", "arn:x"), slog.Int("n", 3))
		}},
		{"with", func(l *slog.Logger) { l.With("a", 1).Info("m", "b", 2) }},
		{"group", func(l *slog.Logger) { l.WithGroup("g").Info("m", "b", 2) }},
		{"below level", func(l *slog.Logger) { l.Debug("hidden") }},
	}
	for _, tc := range tests {
		for _, json := range []bool{false, true} {
			t.Run(tc.name, func(t *testing.T) {
				var want, got bytes.Buffer
				mk := func(b *bytes.Buffer) slog.Handler {
					o := &slog.HandlerOptions{ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
						if a.Key == slog.TimeKey {
							return slog.Attr{}
						}
						return a
					}}
					if json {
						return slog.NewJSONHandler(b, o)
					}
					return slog.NewTextHandler(b, o)
				}
				tc.log(slog.New(mk(&want)).With(slog.String("request_id", "req-1")))
				tc.log(With(slog.New(mk(&got)), slog.String("request_id", "req-1")))
				if got.String() != want.String() {
					t.Fatalf("got %q, want %q", got.String(), want.String())
				}
			})
		}
	}
}
