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
	"syscall"
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
// kept.
//
// Each Write hands its lines to the operating system before it returns
// (in commit order), so a crash of this process loses none of them; the
// disk sync is shared: lines reach the disk within FileSyncInterval of
// their Write. A Write that finds the last sync older than the interval
// syncs before it returns; otherwise a timer syncs what was written when
// the interval since the last sync ends. Rotation syncs the full file
// before renaming it, and Close syncs what is left. The store is the
// durable record (every event is committed there before its caller's
// answer); this file is a copy. A sync the timer made that failed is
// returned by the next Write (the audit Writer hands it to its
// onSinkError) or, failing one, by Close; a Write's own failed sync is
// returned by that Write. Either way the lines stay due for a sync, and
// the timer tries again an interval later, up to maxTimerSyncRetries
// times in a row (then the next Write or Close syncs them).
//
// A failed sync is not repeated by the next one: on Linux the kernel
// marks the pages whose writeback failed clean, and the next fsync
// returns 0 though they never reached the disk. So the sink keeps a copy
// of the lines written since the last sync that succeeded (up to
// maxRewriteBytes) and, after a sync fails, writes them again where they
// are (the same bytes at the same offsets: the file's content does not
// change, its pages are dirty again), so that the sync that succeeds next
// covers them. A sync that fails because the file cannot be synced at all
// (EINVAL: a pipe, a terminal) loses nothing and writes nothing again. A
// rotation or Close whose sync fails syncs once more after the rewrite; a
// rotation that still fails writes the lines again in the new file.
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
	// torn: a Write that failed part-way left the file within a line;
	// the next Write ends it first (under mu).
	torn bool

	// Disk syncs (under mu): dirty is set when lines were written since
	// the last successful sync; lastSync is when the last sync started;
	// timer, when set, will sync at lastSync+FileSyncInterval; syncErr
	// is the failure of a sync the timer made, not yet reported.
	dirty    bool
	lastSync time.Time
	timer    stopper
	syncErr  error
	// retries counts the timer's syncs that failed in a row (reset by
	// any sync that succeeds).
	retries int
	// unsynced (under mu) is a copy of the bytes written since the last
	// sync that succeeded, written again after a sync fails; overflow is
	// set when they were more than maxRewriteBytes (the copy is then
	// dropped until a sync succeeds); rewrites counts the times they were
	// written again since the last sync that succeeded.
	unsynced []byte
	overflow bool
	rewrites int
	// timers counts armed timers whose function has not returned (or
	// that were not stopped): Close waits for it, so that no timer or
	// its goroutine outlives the sink.
	timers sync.WaitGroup

	// Hooks for tests; nil means the real thing.
	now       func() time.Time
	afterFunc func(time.Duration, func()) stopper
	syncFile  func(*os.File) error
}

// FileSyncInterval bounds how long the lines a FileSink wrote wait for
// their disk sync: under load, one sync per interval carries every
// Write made meanwhile.
const FileSyncInterval = 100 * time.Millisecond

// stopper is a timer armed by afterFunc (*time.Timer, or a test's).
type stopper interface{ Stop() bool }

// maxKeptLines bounds the buffer a FileSink keeps between writes.
const maxKeptLines = 256 << 10

// maxRewriteBytes bounds the copy of unsynced lines a FileSink keeps to
// write again after a failed sync: one FileSyncInterval of lines at 40
// MB/s. Past it, a failed sync reports the lines it could not write again.
const maxRewriteBytes = 4 << 20

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
		return fmt.Errorf("audit: open %s: %w", s.Path, err)
	}
	s.f, s.size, s.torn = f, st.Size(), false
	return nil
}

func (s *FileSink) clock() time.Time {
	if s.now != nil {
		return s.now()
	}
	return time.Now()
}

// Write appends the events' records. It returns once the operating
// system has them; they reach the disk within FileSyncInterval.
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
			// A sync that failed (the rotation's, or the timer's) is
			// reported with it: the sink is unusable now.
			err, s.syncErr = errors.Join(err, s.syncErr), nil
			return err
		}
	}
	if s.torn { // the torn record stays torn; these lines stay whole
		if k, err := s.f.Write([]byte{'\n'}); k == 1 {
			s.size, s.torn, s.dirty = s.size+1, false, true
			s.keepUnsynced([]byte{'\n'})
		} else if err != nil {
			return fmt.Errorf("audit: write %s: %w", s.Path, err)
		}
	}
	n, werr := s.f.Write(b)
	s.size += int64(n)
	if n > 0 {
		s.dirty = true
		s.torn = b[n-1] != '\n'
		s.keepUnsynced(b[:n])
	}
	if werr != nil {
		werr = fmt.Errorf("audit: write %s: %w", s.Path, werr)
		if n == 0 {
			return werr
		}
		// Part of the lines went out (a full disk, a file size limit):
		// they are due on the disk within the interval as any others,
		// not at the next Write or Close.
	}
	// A failed sync of the timer's is reported once, here.
	err := errors.Join(werr, s.syncErr)
	s.syncErr = nil
	if now := s.clock(); now.Sub(s.lastSync) >= FileSyncInterval {
		if serr := s.syncLocked(now); serr != nil {
			// Reported here; the lines stay due, and the timer tries
			// again an interval from now (syncLocked set lastSync), as
			// after a failed sync of its own.
			err = errors.Join(err, serr)
			s.armLocked(now)
		}
	} else {
		s.armLocked(now)
	}
	return err
}

// keepUnsynced adds p, just written, to the copy of the unsynced lines
// (under mu; a copy in memory, no system call).
func (s *FileSink) keepUnsynced(p []byte) {
	if s.overflow {
		return
	}
	if len(s.unsynced)+len(p) > maxRewriteBytes {
		s.unsynced, s.overflow = nil, true
		return
	}
	s.unsynced = append(s.unsynced, p...)
}

// syncLocked syncs the file if lines were written since the last sync;
// when the sync fails, it writes the unsynced lines again (rewriteLocked)
// for the next sync to cover.
func (s *FileSink) syncLocked(now time.Time) error {
	err := s.syncOnlyLocked(now)
	if err != nil {
		err = errors.Join(err, s.rewriteLocked(err))
	}
	return err
}

// syncOnlyLocked syncs the file if lines were written since the last
// sync; a sync that succeeds drops the copy of the unsynced lines.
func (s *FileSink) syncOnlyLocked(now time.Time) error {
	if !s.dirty {
		return nil
	}
	s.lastSync = now
	var err error
	if s.syncFile != nil {
		err = s.syncFile(s.f)
	} else {
		err = s.f.Sync()
	}
	if err != nil {
		return fmt.Errorf("audit: sync %s: %w", s.Path, err)
	}
	s.dirty, s.retries = false, 0
	s.unsynced, s.overflow, s.rewrites = s.unsynced[:0], false, 0
	if cap(s.unsynced) > maxKeptLines {
		s.unsynced = nil
	}
	return nil
}

// rewriteLocked writes the unsynced lines again after their sync failed
// with serr: the kernel may have dropped them from its dirty pages, and
// the next sync, returning 0, would count them as on the disk. It returns
// what kept them from being written again.
func (s *FileSink) rewriteLocked(serr error) error {
	if errors.Is(serr, syscall.EINVAL) || errors.Is(serr, errors.ErrUnsupported) {
		return nil // the file cannot be synced at all: nothing was dropped
	}
	if s.overflow {
		return fmt.Errorf("audit: %s: more than %d bytes of lines were unsynced when the sync failed; they may not be on the disk", s.Path, maxRewriteBytes)
	}
	if len(s.unsynced) == 0 {
		return nil
	}
	s.rewrites++
	return s.writeCopyLocked()
}

// writeCopyLocked writes the copy of the unsynced lines again at their
// offsets, the file's last len(unsynced) bytes, through a descriptor of
// its own: s.f appends (O_APPEND), and pwrite on such a descriptor
// appends too on Linux. The file must still be s.f.
func (s *FileSink) writeCopyLocked() error {
	f, err := os.OpenFile(s.Path, os.O_WRONLY, 0)
	if err != nil {
		return fmt.Errorf("audit: write %s again: %w", s.Path, err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return fmt.Errorf("audit: write %s again: %w", s.Path, err)
	}
	if cur, err := s.f.Stat(); err != nil || !os.SameFile(st, cur) {
		return fmt.Errorf("audit: write %s again: the file at the path is not the sink's any more", s.Path)
	}
	// The offsets are the sink's count: a file whose length changed
	// under it would get its lines twice or NUL bytes (logrotate's
	// copytruncate), or lines over another writer's.
	if st.Size() != s.size {
		return fmt.Errorf("audit: write %s again: the file is %d bytes, not the %d the sink wrote; its unsynced lines may not be on the disk", s.Path, st.Size(), s.size)
	}
	if _, err := f.WriteAt(s.unsynced, s.size-int64(len(s.unsynced))); err != nil {
		return fmt.Errorf("audit: write %s again: %w", s.Path, err)
	}
	s.dirty = true
	return nil
}

// appendCopyLocked appends the copy of the unsynced lines to a new file
// (a rotation's), after a newline if the file ends within a line.
func (s *FileSink) appendCopyLocked() error {
	if len(s.unsynced) == 0 {
		return nil
	}
	if s.torn {
		if k, err := s.f.Write([]byte{'\n'}); k != 1 {
			return fmt.Errorf("audit: write %s: %w", s.Path, err)
		}
		s.size, s.torn = s.size+1, false
	}
	n, err := s.f.Write(s.unsynced)
	s.size += int64(n)
	if n > 0 {
		s.dirty = true
		s.torn = s.unsynced[n-1] != '\n'
	}
	if n < len(s.unsynced) {
		s.unsynced, s.overflow = nil, true // not all of them are in this file
	}
	if err != nil {
		return fmt.Errorf("audit: write %s: %w", s.Path, err)
	}
	return nil
}

// maxTimerSyncRetries bounds the timer's tries, an interval apart, to
// sync lines whose sync failed, when no Write comes meanwhile.
const maxTimerSyncRetries = 10

// armLocked makes sure a timer syncs the lines written so far once the
// interval since the last sync ends.
func (s *FileSink) armLocked(now time.Time) {
	if s.timer != nil {
		return
	}
	d := max(FileSyncInterval-now.Sub(s.lastSync), 0)
	s.timers.Add(1)
	if s.afterFunc != nil {
		s.timer = s.afterFunc(d, s.syncLater)
	} else {
		s.timer = time.AfterFunc(d, s.syncLater)
	}
}

// syncLater is the timer's function.
func (s *FileSink) syncLater() {
	defer s.timers.Done()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.timer = nil
	if s.f == nil || !s.dirty { // closed meanwhile (Close synced), or synced
		return
	}
	now := s.clock()
	if now.Sub(s.lastSync) < FileSyncInterval {
		// A Write synced while this timer waited for mu: the lines
		// written since are due an interval after that sync.
		s.armLocked(now)
		return
	}
	if err := s.syncLocked(now); err != nil {
		if s.syncErr == nil {
			s.syncErr = err
		}
		// The lines are still due: try again an interval from now
		// (syncLocked set lastSync), a bounded number of times.
		if s.retries < maxTimerSyncRetries {
			s.retries++
			s.armLocked(now)
		}
	}
}

// rotate syncs and renames the full file and starts a new one. A failed
// sync does not stop the rotation (the lines are with the operating
// system; a new file keeps the next ones): the Write reports it.
func (s *FileSink) rotate() error {
	// A failed sync's lines are written again and synced once more;
	// failing again, they are written in the new file too, as the file
	// closed here is synced no more.
	carry := false
	rewrites := s.rewrites
	if err := s.syncLocked(s.clock()); err != nil {
		if s.rewrites > rewrites {
			err = errors.Join(err, s.syncOnlyLocked(s.clock()))
		}
		if s.syncErr == nil {
			s.syncErr = err
		}
		carry = s.dirty && !errors.Is(err, syscall.EINVAL) && !errors.Is(err, errors.ErrUnsupported)
	}
	if err := s.f.Close(); err != nil {
		return fmt.Errorf("audit: rotate %s: %w", s.Path, err)
	}
	ext := filepath.Ext(s.Path)
	base := strings.TrimSuffix(s.Path, ext)
	rotated := fmt.Sprintf("%s-%s%s", base, time.Now().UTC().Format("20060102T150405.000000000Z"), ext)
	if err := os.Rename(s.Path, rotated); err != nil {
		s.f = nil // the sink is unusable: Write reports it closed
		return fmt.Errorf("audit: rotate %s: %w", s.Path, err)
	}
	if err := s.open(); err != nil {
		s.f = nil
		return err
	}
	if carry {
		if err := s.appendCopyLocked(); err != nil {
			s.syncErr = errors.Join(s.syncErr, err)
		}
	} else {
		// The copy was of the old file's lines.
		s.unsynced, s.overflow, s.rewrites = s.unsynced[:0], false, 0
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

// Close syncs what was written, closes the file and stops the timer; it
// returns once no timer function of the sink's runs. It returns a sync
// failure not yet reported by a Write.
func (s *FileSink) Close() error {
	s.mu.Lock()
	if s.timer != nil && s.timer.Stop() {
		s.timers.Done() // its function will not run
	}
	s.timer = nil
	if s.f == nil {
		err := s.syncErr // a failed rotation's Write may not have reported it
		s.syncErr = nil
		s.mu.Unlock()
		s.timers.Wait()
		return err
	}
	err := s.syncErr
	s.syncErr = nil
	rewrites := s.rewrites
	if serr := s.syncLocked(s.clock()); serr != nil {
		err = errors.Join(err, serr)
		if s.rewrites > rewrites {
			// The lines were written again (syncLocked): one more sync
			// before the file is closed for good.
			err = errors.Join(err, s.syncOnlyLocked(s.clock()))
		}
	}
	if cerr := s.f.Close(); cerr != nil {
		err = errors.Join(err, fmt.Errorf("audit: close %s: %w", s.Path, cerr))
	}
	s.f = nil
	s.mu.Unlock()
	s.timers.Wait() // a timer that fired finds the sink closed
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
