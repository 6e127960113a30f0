package webterm

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/postern/postern/internal/util/atomicfile"
)

// Session recordings: asciicast v2 (https://docs.asciinema.org/manual/asciicast/v2/),
// one file per tunnel, <tunnelId>.cast, beside a <tunnelId>.json of what
// the list shows (who, where, when). Both are 0600 in the recordings
// directory. Events are written as the browser is sent them: "o" output,
// "i" input (only with console.record_input), "r" resizes ("COLSxROWS"),
// and "m" markers: when the size cap stops the recording, and when input
// recorded did not (or may not) reach the instance (input.go).

// DefaultRecordingMaxMB is the size cap when the configuration sets none.
const DefaultRecordingMaxMB = 100

var tunnelIDPattern = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^tnl-[0-9a-f]{8,32}$`) })

// recordingMeta is the <tunnelId>.json beside a recording.
type recordingMeta struct {
	TunnelID    string    `json:"tunnelId"`
	InstanceID  string    `json:"instanceId"`
	EndpointID  string    `json:"endpointId"`
	EndpointARN string    `json:"endpointArn"`
	User        string    `json:"user"` // the principal's ARN
	UserName    string    `json:"userName"`
	OSUser      string    `json:"osUser"`
	SourceIP    string    `json:"sourceIp"`
	Start       time.Time `json:"start"`
	End         time.Time `json:"end,omitzero"`
	// Truncated: the recording does not hold the whole session: it
	// reached its size cap, or (Incomplete says so) a write or the final
	// sync to the disk failed.
	Truncated bool `json:"truncated,omitempty"`
	// Incomplete is why a recording that did not reach its cap may miss
	// part of the session: its write failed, or its sync did, after which
	// the kernel may have dropped lines it had not written to the disk
	// (on Linux a later sync does not write them again).
	Incomplete string `json:"incomplete,omitempty"`
}

// castHeader is an asciicast v2 header line.
type castHeader struct {
	Version   int               `json:"version"`
	Width     int               `json:"width"`
	Height    int               `json:"height"`
	Timestamp int64             `json:"timestamp"`
	Env       map[string]string `json:"env"`
	Title     string            `json:"title,omitempty"`
}

// maxViewerBacklog bounds the bytes queued for one live viewer: one that
// falls further behind is dropped (it may join again).
const maxViewerBacklog = 4 << 20

// viewer is one live viewer's queue of recording lines.
type viewer struct {
	ch     chan []byte
	queued atomic.Int64 // bytes in ch
	gone   atomic.Bool  // dropped for falling behind
}

// got accounts for a line the viewer took from its queue.
func (v *viewer) got(line []byte) { v.queued.Add(-int64(len(line))) }

// dropped reports whether the viewer was dropped for falling behind.
func (v *viewer) dropped() bool { return v.gone.Load() }

// recorder writes one session's recording and feeds its live viewers.
type recorder struct {
	t     *Terminal
	path  string // the .cast file
	start time.Time
	max   int64

	mu        sync.Mutex
	f         *os.File
	meta      recordingMeta
	size      int64
	stopped   bool // the size cap was reached
	done      bool
	pendO     []byte // an incomplete UTF-8 sequence at the end of the last output
	pendI     []byte
	inFlight  int // bytes of the input recorded last whose stdin write has not returned
	viewers   map[*viewer]struct{}
	lastWrite time.Duration
	// syncFile is f.Sync (tests make it fail).
	syncFile func(*os.File) error
}

// startRecording creates the recording of a session (its header written)
// and lists it as live.
func (t *Terminal) startRecording(meta recordingMeta, cols, rows int) (*recorder, error) {
	if !tunnelIDPattern().MatchString(meta.TunnelID) {
		return nil, fmt.Errorf("webterm: tunnel id %q cannot name a recording", meta.TunnelID)
	}
	if err := os.MkdirAll(t.dir, 0o700); err != nil {
		return nil, fmt.Errorf("webterm: recordings directory: %w", err)
	}
	maxMB := t.cfg.Console.RecordingMaxMB
	if maxMB <= 0 {
		maxMB = DefaultRecordingMaxMB
	}
	rec := &recorder{t: t, path: filepath.Join(t.dir, meta.TunnelID+".cast"), start: time.Now(), max: int64(maxMB) << 20,
		meta: meta, viewers: map[*viewer]struct{}{}}
	f, err := os.OpenFile(rec.path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, fmt.Errorf("webterm: create recording: %w", err)
	}
	rec.f = f
	// Held until the file is closed, after the metadata got its end: a
	// listing tells a recording cut by the server's end (killed, or the
	// machine lost power) from one being written (cutShort).
	if err := lockRecording(f); err != nil && !errors.Is(err, errors.ErrUnsupported) {
		t.log.Warn("recording not locked: if the server stops during it, the list will not say it was cut short", "tunnel", meta.TunnelID, "error", err)
	}
	if err := writeMeta(t.dir, meta); err != nil {
		f.Close()
		os.Remove(rec.path)
		return nil, err
	}
	h, _ := json.Marshal(castHeader{Version: 2, Width: cols, Height: rows, Timestamp: meta.Start.Unix(),
		Env: map[string]string{"TERM": Term}, Title: meta.OSUser + "@" + meta.InstanceID})
	if _, err := f.Write(append(h, '\n')); err != nil {
		f.Close()
		return nil, fmt.Errorf("webterm: write recording: %w", err)
	}
	rec.size = int64(len(h) + 1)
	t.mu.Lock()
	t.live[meta.TunnelID] = rec
	t.mu.Unlock()
	return rec, nil
}

// writeMeta writes <tunnelId>.json atomically.
func writeMeta(dir string, m recordingMeta) error {
	b, err := json.Marshal(m)
	if err != nil {
		return err
	}
	if err := atomicfile.WriteFile(filepath.Join(dir, m.TunnelID+".json"), b, 0o600); err != nil {
		return fmt.Errorf("webterm: recording metadata: %w", err)
	}
	return nil
}

// output records terminal output. A nil recorder records nothing.
func (r *recorder) output(p []byte) {
	if r != nil {
		r.event("o", p, &r.pendO)
	}
}

// input records keystrokes about to be written to stdin: they are in
// flight until the write returns (inputWritten, inputFailed), and a
// recording finished before then marks them (markInFlight).
func (r *recorder) input(p []byte) {
	if r != nil {
		r.mu.Lock()
		defer r.mu.Unlock()
		r.eventLocked("i", p, &r.pendI)
		if !r.done {
			r.inFlight = len(p)
		}
	}
}

// resize records a new terminal size.
func (r *recorder) resize(cols, rows int) {
	if r != nil {
		r.mu.Lock()
		defer r.mu.Unlock()
		r.writeEvent("r", fmt.Sprintf("%dx%d", cols, rows))
	}
}

// event records p, holding back an incomplete UTF-8 sequence at its end
// until the next call (asciicast data is text).
func (r *recorder) event(kind string, p []byte, pend *[]byte) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.eventLocked(kind, p, pend)
}

// eventLocked is event with r.mu held.
func (r *recorder) eventLocked(kind string, p []byte, pend *[]byte) {
	data := append(*pend, p...)
	cut := len(data)
	for i := len(data) - 1; i >= 0 && i >= len(data)-utf8.UTFMax; i-- {
		if utf8.RuneStart(data[i]) {
			if !utf8.FullRune(data[i:]) {
				cut = i
			}
			break
		}
	}
	*pend = append([]byte(nil), data[cut:]...)
	if cut > 0 {
		r.writeEvent(kind, string(data[:cut]))
	}
}

// writeEvent appends one event line; r.mu is held.
func (r *recorder) writeEvent(kind, data string) {
	if r.done || r.stopped {
		return
	}
	at := time.Since(r.start)
	if at < r.lastWrite {
		at = r.lastWrite
	}
	r.lastWrite = at
	line, _ := json.Marshal([]any{math.Round(at.Seconds()*1e6) / 1e6, kind, strings.ToValidUTF8(data, "\uFFFD")})
	line = append(line, '\n')
	if r.size+int64(len(line)) > r.max {
		r.stopped = true
		r.meta.Truncated = true
		line, _ = json.Marshal([]any{math.Round(at.Seconds()*1e6) / 1e6, "m",
			fmt.Sprintf("Postern stopped recording here: the recording reached its limit of %d MB", r.max>>20)})
		line = append(line, '\n')
	}
	if _, err := r.f.Write(line); err != nil {
		r.t.log.Error("recording write failed; the recording stops", "tunnel", r.meta.TunnelID, "error", err)
		r.stopped = true
		r.meta.Truncated, r.meta.Incomplete = true, "a write failed: "+err.Error()
		return
	}
	r.size += int64(len(line))
	for v := range r.viewers {
		if v.queued.Load()+int64(len(line)) <= maxViewerBacklog {
			select {
			case v.ch <- line:
				v.queued.Add(int64(len(line)))
				continue
			default:
			}
		}
		// A viewer that cannot keep up is dropped.
		delete(r.viewers, v)
		v.gone.Store(true)
		close(v.ch)
	}
}

// join returns how many bytes of the recording file were written so far
// (the viewer reads them from the file, outside the recorder's lock) and
// a viewer whose queue has the lines that follow; the queue is closed
// when the session ends (or the viewer falls behind). leave stops it.
func (r *recorder) join() (size int64, v *viewer, leave func(), err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.done {
		return 0, nil, nil, errNotLive
	}
	v = &viewer{ch: make(chan []byte, 1024)}
	r.viewers[v] = struct{}{}
	return r.size, v, func() {
		r.mu.Lock()
		defer r.mu.Unlock()
		if _, ok := r.viewers[v]; ok {
			delete(r.viewers, v)
			close(v.ch)
		}
	}, nil
}

var errNotLive = errors.New("webterm: the session is not running")

// finish closes the recording, ends its live viewers and writes its
// metadata with the end time.
func (r *recorder) finish() {
	r.mu.Lock()
	// What is left of an incomplete UTF-8 sequence is recorded as is (it
	// becomes U+FFFD).
	for _, p := range []struct {
		kind string
		pend *[]byte
	}{{"o", &r.pendO}, {"i", &r.pendI}} {
		if len(*p.pend) > 0 {
			r.writeEvent(p.kind, string(*p.pend))
		}
	}
	r.markInFlight()
	r.done = true
	for v := range r.viewers {
		close(v.ch)
	}
	r.viewers = nil
	sync := (*os.File).Sync
	if r.syncFile != nil {
		sync = r.syncFile
	}
	if err := sync(r.f); err != nil {
		// Not synced again: the kernel marks the pages it failed to
		// write clean, so a second sync would succeed without them. The
		// metadata says the recording may miss part of the session.
		r.t.log.Error("recording sync failed; the recording is marked incomplete", "tunnel", r.meta.TunnelID, "error", err)
		if r.meta.Incomplete == "" {
			r.meta.Incomplete = "its sync to the disk failed: " + err.Error()
		}
		r.meta.Truncated = true
	}
	r.meta.End = r.t.cfg.Now().UTC()
	meta := r.meta
	r.mu.Unlock()
	if err := writeMeta(r.t.dir, meta); err != nil {
		r.t.log.Error("recording metadata not updated", "tunnel", meta.TunnelID, "error", err)
	}
	// Closed (its lock released) once the metadata has its end, so that
	// no listing takes the recording for one cut short (cutShort).
	_ = r.f.Close()
	r.t.mu.Lock()
	delete(r.t.live, meta.TunnelID)
	r.t.mu.Unlock()
}

// liveRecorder returns the recorder of a running session, or nil.
func (t *Terminal) liveRecorder(id string) *recorder {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.live[id]
}

// readMeta reads a recording's metadata; fs.ErrNotExist when there is no
// such recording.
func (t *Terminal) readMeta(id string) (recordingMeta, error) {
	var m recordingMeta
	if !tunnelIDPattern().MatchString(id) {
		return m, fs.ErrNotExist
	}
	b, err := os.ReadFile(filepath.Join(t.dir, id+".json"))
	if err != nil {
		return m, err
	}
	if err := json.Unmarshal(b, &m); err != nil {
		return m, fmt.Errorf("webterm: recording metadata %s: %w", id, err)
	}
	return m, nil
}

// SweepRecordings deletes the recordings whose last write is older than
// console.recording_retention_days (none when it is 0), except those of
// running sessions, and returns how many it deleted. The server calls it
// from its periodic sweep.
func (t *Terminal) SweepRecordings(now time.Time) (int, error) {
	days := t.cfg.Console.RecordingRetentionDays
	if days <= 0 {
		return 0, nil
	}
	cutoff := now.Add(-time.Duration(days) * 24 * time.Hour)
	entries, err := os.ReadDir(t.dir)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("webterm: sweep recordings: %w", err)
	}
	n := 0
	var errs []error
	for _, e := range entries {
		id, ok := strings.CutSuffix(e.Name(), ".cast")
		if !ok || !tunnelIDPattern().MatchString(id) || t.liveRecorder(id) != nil {
			continue
		}
		info, err := e.Info()
		if err != nil || !info.ModTime().Before(cutoff) {
			continue
		}
		if err := os.Remove(filepath.Join(t.dir, e.Name())); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, err)
			continue
		}
		if err := os.Remove(filepath.Join(t.dir, id+".json")); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, err)
		}
		n++
	}
	return n, errors.Join(errs...)
}

// isDone reports whether the session ended.
func (r *recorder) isDone() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.done
}
