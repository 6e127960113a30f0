// Package lazyattr gives a logger that logs what logger.With(attr) logs,
// but formats the attribute only when a record is logged: a request's
// logger (its request id) is made on every request, and most requests log
// nothing, while With pre-formats the attribute at once (several
// allocations on every request).
package lazyattr

import (
	"context"
	"log/slog"
)

// With returns a logger that writes what l.With(a) writes.
func With(l *slog.Logger, a slog.Attr) *slog.Logger {
	return slog.New(handler{h: l.Handler(), a: a})
}

type handler struct {
	h slog.Handler
	a slog.Attr
}

func (h handler) with() slog.Handler { return h.h.WithAttrs([]slog.Attr{h.a}) }

func (h handler) Enabled(ctx context.Context, l slog.Level) bool { return h.h.Enabled(ctx, l) }

func (h handler) Handle(ctx context.Context, r slog.Record) error { return h.with().Handle(ctx, r) }

func (h handler) WithAttrs(as []slog.Attr) slog.Handler { return h.with().WithAttrs(as) }

func (h handler) WithGroup(name string) slog.Handler { return h.with().WithGroup(name) }
