package audit

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/postern/postern/internal/store"
)

// Sink receives every committed batch of events, in commit order, after
// the store has them (the store is the durable, queryable record; sinks
// are copies for other tools). Sinks are written by a goroutine of their
// own: the callers whose events were committed do not wait for them.
type Sink interface {
	Write(evs []store.Event) error
}

// FileSink appends events to a JSON Lines file (one CloudTrail record per
// line), rotating it when it reaches MaxBytes: the full file is renamed
// with its rotation time and a new one started; Keep rotated files are
// kept. Lines are synced to disk before Write returns.
type FileSink struct {
	Path     string
	MaxBytes int64
	Keep     int

	mu   sync.Mutex
	f    *os.File
	size int64
	// buf holds the lines of one Write, kept between writes (under mu) so
	// that a write does not grow a new buffer; at most maxKeptLines bytes
	// are kept.
	buf []byte
}

// maxKeptLines bounds the buffer a FileSink keeps between writes.
const maxKeptLines = 256 << 10

// NewFileSink opens (creating) the file at path, mode 0600.
func NewFileSink(path string, maxBytes int64, keep int) (*FileSink, error) {
	s := &FileSink{Path: path, MaxBytes: maxBytes, Keep: keep}
	if err := s.open(); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *FileSink) open() error {
	f, err := os.OpenFile(s.Path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("audit: open %s: %w", s.Path, err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return err
	}
	s.f, s.size = f, st.Size()
	return nil
}

// Write appends the events' records.
func (s *FileSink) Write(evs []store.Event) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.f == nil {
		return errors.New("audit: file sink closed")
	}
	b := s.buf[:0]
	for _, e := range evs {
		b = append(b, e.Body...)
		b = append(b, '\n')
	}
	if cap(b) <= maxKeptLines {
		s.buf = b
	} else {
		s.buf = nil
	}
	if s.MaxBytes > 0 && s.size > 0 && s.size+int64(len(b)) > s.MaxBytes {
		if err := s.rotate(); err != nil {
			return err
		}
	}
	n, err := s.f.Write(b)
	s.size += int64(n)
	if err != nil {
		return fmt.Errorf("audit: write %s: %w", s.Path, err)
	}
	return s.f.Sync()
}

// rotate renames the full file and starts a new one.
func (s *FileSink) rotate() error {
	if err := s.f.Close(); err != nil {
		return err
	}
	ext := filepath.Ext(s.Path)
	base := strings.TrimSuffix(s.Path, ext)
	rotated := fmt.Sprintf("%s-%s%s", base, time.Now().UTC().Format("20060102T150405.000000000Z"), ext)
	if err := os.Rename(s.Path, rotated); err != nil {
		return fmt.Errorf("audit: rotate %s: %w", s.Path, err)
	}
	if err := s.open(); err != nil {
		return err
	}
	if s.Keep > 0 {
		old, _ := filepath.Glob(base + "-*" + ext)
		sort.Strings(old)
		for len(old) > s.Keep {
			_ = os.Remove(old[0])
			old = old[1:]
		}
	}
	return nil
}

// Close closes the file.
func (s *FileSink) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.f == nil {
		return nil
	}
	err := s.f.Close()
	s.f = nil
	return err
}

// WebhookSink POSTs batches of records (JSON Lines) to a URL, in the
// background: a slow or failing webhook never holds up a request. Batches
// that keep failing after a few tries are logged and dropped (the store
// still has them).
type WebhookSink struct {
	URL    string
	Client *http.Client
	Log    *slog.Logger

	once sync.Once
	ch   chan []byte
}

func (w *WebhookSink) start() {
	w.ch = make(chan []byte, 1024)
	if w.Client == nil {
		w.Client = &http.Client{Timeout: 10 * time.Second}
	}
	if w.Log == nil {
		w.Log = slog.New(slog.DiscardHandler)
	}
	go func() {
		for body := range w.ch {
			var err error
			for try, wait := 0, 500*time.Millisecond; try < 4; try, wait = try+1, wait*2 {
				if err = w.post(body); err == nil {
					break
				}
				time.Sleep(wait)
			}
			if err != nil {
				w.Log.Error("audit webhook: a batch was not delivered", "url", w.URL, "error", err)
			}
		}
	}()
}

func (w *WebhookSink) post(body []byte) error {
	req, err := http.NewRequestWithContext(context.Background(), http.MethodPost, w.URL, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/x-ndjson")
	resp, err := w.Client.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("answered %d", resp.StatusCode)
	}
	return nil
}

// Write queues the batch for delivery.
func (w *WebhookSink) Write(evs []store.Event) error {
	w.once.Do(w.start)
	var b bytes.Buffer
	for _, e := range evs {
		b.WriteString(e.Body)
		b.WriteByte('\n')
	}
	select {
	case w.ch <- b.Bytes():
	default:
		w.Log.Error("audit webhook: queue full, a batch was dropped", "events", len(evs))
	}
	return nil
}

// SyslogSink sends each record to syslog as one message (facility
// AUTHPRIV, tag postern), over the network ("udp", "tcp") or, with an empty
// network, the local syslog socket.
type SyslogSink struct {
	w syslogWriter
}

type syslogWriter interface {
	Info(m string) error
}

// Write sends the records.
func (s *SyslogSink) Write(evs []store.Event) error {
	var first error
	for _, e := range evs {
		if err := s.w.Info(e.Body); err != nil && first == nil {
			first = err
		}
	}
	return first
}
