package httpedge

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"time"
)

// net/http writes one ErrorLog line for every connection whose TLS
// handshake fails or times out ("http: TLS handshake error from …"): a
// client that opens connections and sends garbage, or nothing, writes
// the server's log for it. ErrorLogHandler passes the first of these lines
// in each window and then, when the window ends, one line that says how
// many it left out.

// HandshakeErrorPrefix starts net/http's line about a failed handshake;
// SummaryMessage is the line that counts those left out.
const (
	HandshakeErrorPrefix = "http: TLS handshake error"
	SummaryMessage       = "more TLS handshakes failed than were logged"
)

// LogLimit configures ErrorLogHandler.
type LogLimit struct {
	// Burst is how many handshake-error lines a window passes (default
	// 10); the others are counted.
	Burst int
	// Window is the length of a window (default one minute). A window
	// starts with a handshake error while none is open.
	Window time.Duration
	// Now and AfterFunc are the clock (default time.Now and
	// time.AfterFunc); AfterFunc schedules the summary at a window's end.
	Now       func() time.Time
	AfterFunc func(d time.Duration, f func())
}

// ErrorLogHandler returns a slog.Handler for net/http's ErrorLog (through
// slog.NewLogLogger): it passes every record to h, except that of the
// records whose message starts with HandshakeErrorPrefix it passes only
// lim.Burst per lim.Window and then one summary, at the window's end,
// with the number it left out ("suppressed") and the last of them.
func ErrorLogHandler(h slog.Handler, lim LogLimit) slog.Handler {
	if lim.Burst <= 0 {
		lim.Burst = 10
	}
	if lim.Window <= 0 {
		lim.Window = time.Minute
	}
	if lim.Now == nil {
		lim.Now = time.Now
	}
	if lim.AfterFunc == nil {
		lim.AfterFunc = func(d time.Duration, f func()) { time.AfterFunc(d, f) }
	}
	return &errorLog{h: h, w: &window{lim: lim, out: h}}
}

// errorLog is the handler; its copies (WithAttrs, WithGroup) share one
// window.
type errorLog struct {
	h slog.Handler
	w *window
}

func (e *errorLog) Enabled(ctx context.Context, l slog.Level) bool { return e.h.Enabled(ctx, l) }

func (e *errorLog) Handle(ctx context.Context, r slog.Record) error {
	if !strings.HasPrefix(r.Message, HandshakeErrorPrefix) || e.w.pass(r) {
		return e.h.Handle(ctx, r)
	}
	return nil
}

func (e *errorLog) WithAttrs(as []slog.Attr) slog.Handler {
	return &errorLog{h: e.h.WithAttrs(as), w: e.w}
}

func (e *errorLog) WithGroup(name string) slog.Handler {
	return &errorLog{h: e.h.WithGroup(name), w: e.w}
}

// window counts the handshake errors of the current window.
type window struct {
	lim LogLimit
	out slog.Handler

	mu         sync.Mutex
	open       bool
	start      time.Time
	seen       int    // handshake errors in the window
	last       string // the last one left out
	lastLevel  slog.Level
	generation int // tells a window's timer from a later window's
}

// pass counts r and reports whether it is to be logged.
func (w *window) pass(r slog.Record) bool {
	now := w.lim.Now()
	w.mu.Lock()
	var summary *slog.Record
	if w.open && now.Sub(w.start) >= w.lim.Window {
		summary = w.closeLocked() // its timer is late
	}
	if !w.open {
		w.open, w.start, w.seen = true, now, 0
		w.generation++
		gen := w.generation
		w.lim.AfterFunc(w.lim.Window, func() { w.end(gen) })
	}
	w.seen++
	ok := w.seen <= w.lim.Burst
	if !ok {
		w.last, w.lastLevel = r.Message, r.Level
	}
	w.mu.Unlock()
	w.emit(summary)
	return ok
}

// end closes window gen, if it is still the open one.
func (w *window) end(gen int) {
	w.mu.Lock()
	var summary *slog.Record
	if w.open && w.generation == gen {
		summary = w.closeLocked()
	}
	w.mu.Unlock()
	w.emit(summary)
}

// closeLocked closes the open window and returns its summary, nil when
// no line was left out; w.mu is held.
func (w *window) closeLocked() *slog.Record {
	w.open = false
	left := w.seen - w.lim.Burst
	if left <= 0 {
		return nil
	}
	r := slog.NewRecord(w.lim.Now(), w.lastLevel, SummaryMessage, 0)
	r.AddAttrs(slog.Int("suppressed", left), slog.Int("logged", w.lim.Burst), slog.Duration("window", w.lim.Window),
		slog.String("last", w.last))
	return &r
}

// emit logs a summary (nil: nothing).
func (w *window) emit(r *slog.Record) {
	if r != nil {
		_ = w.out.Handle(context.Background(), *r)
	}
}
