package webterm

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/coder/websocket"

	"github.com/postern/postern/internal/wire/awsid"
)

// recordingInfo is one entry of GET /console/api/recordings.
type recordingInfo struct {
	TunnelID   string    `json:"tunnelId"`
	InstanceID string    `json:"instanceId"`
	EndpointID string    `json:"endpointId"`
	User       string    `json:"user"`
	UserName   string    `json:"userName"`
	OSUser     string    `json:"osUser"`
	SourceIP   string    `json:"sourceIp"`
	Start      time.Time `json:"start"`
	Duration   float64   `json:"duration"` // seconds; so far, while live
	Size       int64     `json:"size"`     // bytes of the .cast file
	Live       bool      `json:"live"`
	Truncated  bool      `json:"truncated"`
	// Incomplete is why a truncated recording that did not reach its size
	// cap may miss part of the session (a write or the final sync to the
	// disk failed; recordingMeta.Incomplete), without the recordings
	// directory's path; absent otherwise.
	Incomplete string `json:"incomplete,omitempty"`
}

// serveListRecordings serves GET /console/api/recordings: the recordings
// the caller may replay (postern:GetSessionRecording on their endpoint),
// newest first.
func (t *Terminal) serveListRecordings(w http.ResponseWriter, r *http.Request) {
	c := t.caller(w, r)
	if c == nil {
		return
	}
	entries, err := os.ReadDir(t.dir)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		t.log.Error("list recordings", "error", err)
		writeError(w, http.StatusInternalServerError, "InternalError", "The recordings could not be listed.")
		return
	}
	now := t.cfg.Now()
	out := []recordingInfo{}
	for _, e := range entries {
		id, ok := strings.CutSuffix(e.Name(), ".json")
		if !ok || !tunnelIDPattern().MatchString(id) {
			continue
		}
		m, err := t.readMeta(id)
		if err != nil {
			continue
		}
		if ok, _, err := t.authorize(r.Context(), c, ActionGetSessionRecording, m.EndpointARN); err != nil || !ok {
			continue
		}
		info := recordingInfo{TunnelID: m.TunnelID, InstanceID: m.InstanceID, EndpointID: m.EndpointID, User: m.User, UserName: m.UserName,
			OSUser: m.OSUser, SourceIP: m.SourceIP, Start: m.Start, Truncated: m.Truncated, Live: t.liveRecorder(id) != nil,
			Incomplete: t.incompleteReason(m.Incomplete)}
		end := m.End
		if end.IsZero() && !info.Live {
			if cut, last, finished := t.cutShort(id); finished != nil {
				m = *finished // finished since it was read
				info.Truncated, info.Incomplete, end = m.Truncated, t.incompleteReason(m.Incomplete), m.End
			} else if cut {
				info.Truncated, info.Incomplete, end = true, serverStopped, last
			}
		}
		if end.IsZero() {
			end = now
		}
		end = maxTime(end, m.Start)
		info.Duration = end.Sub(m.Start).Seconds()
		if st, err := os.Stat(filepath.Join(t.dir, id+".cast")); err == nil {
			info.Size = st.Size()
		}
		out = append(out, info)
	}
	slices.SortFunc(out, func(a, b recordingInfo) int { return b.Start.Compare(a.Start) })
	writeJSON(w, http.StatusOK, map[string]any{"recordings": out})
}

// serverStopped is the incomplete of a recording the server did not
// finish: it stopped (killed, crashed, or the machine lost power) while
// the session was being recorded.
const serverStopped = "the server stopped before the recording ended"

// cutShort tells of a recording whose metadata has no end and which no
// session of this server is writing whether it was cut short: no process
// holds its file's lock (lockRecording; a session that another server
// sharing the directory records holds it), and its metadata still has no
// end once that is known. last is then its file's last write. finished is
// the metadata when it got its end in the meantime (its session ended).
func (t *Terminal) cutShort(id string) (cut bool, last time.Time, finished *recordingMeta) {
	f, err := os.Open(filepath.Join(t.dir, id+".cast"))
	if err != nil {
		return false, time.Time{}, nil
	}
	defer f.Close()
	if held, known := recordingHeld(f); held || !known {
		return false, time.Time{}, nil
	}
	m, err := t.readMeta(id)
	if err != nil {
		return false, time.Time{}, nil
	}
	if !m.End.IsZero() {
		return false, time.Time{}, &m
	}
	st, err := f.Stat()
	if err != nil {
		return false, time.Time{}, nil
	}
	return true, st.ModTime(), nil
}

func maxTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return b
	}
	return a
}

// incompleteReason is a recording's Incomplete as the list shows it: the
// error's text names the file by its path on the server, which a caller
// allowed to replay the recording needs no more than its name.
func (t *Terminal) incompleteReason(reason string) string {
	if reason == "" || t.dir == "" {
		return reason
	}
	return strings.ReplaceAll(reason, filepath.Clean(t.dir)+string(filepath.Separator), "")
}

// unknownEndpoint names no endpoint: the resource a request for a tunnel
// without a recording is authorized against, so that a caller without the
// action on every endpoint cannot tell unknown tunnel ids from refused ones.
const unknownEndpoint = "eice-unknown"

// recordingFor reads a recording's metadata for a request and authorizes
// the action on its endpoint. When there is no recording, the action is
// authorized against an endpoint that does not exist: a caller allowed the
// action on all endpoints is told there is no recording (404), any other
// gets the same refusal as for a recording they may not see. A refusal
// names the tunnel, not the endpoint, so its text does not tell either.
func (t *Terminal) recordingFor(w http.ResponseWriter, r *http.Request, c *Caller, action string) (recordingMeta, bool) {
	id := r.PathValue("tunnelId")
	m, err := t.readMeta(id)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		t.log.Error("read recording", "tunnel", id, "error", err)
		writeError(w, http.StatusInternalServerError, "InternalError", "The recording could not be read.")
		return m, false
	}
	missing := err != nil
	resource, tunnelID, endpointID := m.EndpointARN, m.TunnelID, m.EndpointID
	if missing {
		resource, endpointID = awsid.EC2ARN(t.cfg.Region, c.Principal.AccountID, "instance-connect-endpoint", unknownEndpoint), unknownEndpoint
		if tunnelIDPattern().MatchString(id) {
			tunnelID = id
		}
	}
	ok, denial, err := t.authorize(r.Context(), c, action, resource)
	if err != nil {
		t.log.Error("authorization failed", "action", action, "error", err)
		writeError(w, http.StatusInternalServerError, "InternalError", "The request could not be authorized.")
		return m, false
	}
	if !ok || !missing {
		code, msg := "", ""
		if !ok {
			code, msg = denial.Err.Code, denial.Err.Message
		}
		if err := t.record(r.Context(), c, action, resource, tunnelID, endpointID, map[string]string{"tunnelId": id}, code, msg); err != nil {
			t.log.Error("could not record the request; refusing it", "action", action, "error", err)
			writeError(w, http.StatusInternalServerError, "InternalError", "The request could not be recorded; try again.")
			return m, false
		}
	}
	if !ok {
		writeError(w, denial.Err.Status, denial.Err.Code, "User: %s is not authorized to perform: %s on the recording of the tunnel '%s'.", c.Principal.ARN, action, id)
		return m, false
	}
	if missing {
		writeError(w, http.StatusNotFound, "RecordingNotFound", "There is no recording of the tunnel '%s'.", id)
		return m, false
	}
	return m, true
}

// serveRecording serves GET /console/api/recordings/{tunnelId}: the
// asciicast file (postern:GetSessionRecording on the tunnel's endpoint).
func (t *Terminal) serveRecording(w http.ResponseWriter, r *http.Request) {
	c := t.caller(w, r)
	if c == nil {
		return
	}
	m, ok := t.recordingFor(w, r, c, ActionGetSessionRecording)
	if !ok {
		return
	}
	f, err := os.Open(filepath.Join(t.dir, m.TunnelID+".cast"))
	if err != nil {
		writeError(w, http.StatusNotFound, "RecordingNotFound", "There is no recording of the tunnel '%s'.", m.TunnelID)
		return
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		writeError(w, http.StatusInternalServerError, "InternalError", "The recording could not be read.")
		return
	}
	w.Header().Set("Content-Type", "application/x-asciicast")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	http.ServeContent(w, r, "", st.ModTime(), f)
}

// serveLive serves GET /console/api/recordings/{tunnelId}/live: a
// read-only WebSocket of a running session (postern:JoinSession on the
// tunnel's endpoint). After the browser's first message {"csrf"}, the
// server sends text messages of asciicast lines (newline-terminated): the
// header and the events so far, then each new event, and closes with 1000
// when the session ends. Messages from the viewer are ignored.
func (t *Terminal) serveLive(w http.ResponseWriter, r *http.Request) {
	c := t.caller(w, r)
	if c == nil {
		return
	}
	if !sameOrigin(r) {
		writeError(w, http.StatusForbidden, "InvalidOrigin", "The viewer opens only from the console's own page.")
		return
	}
	m, ok := t.recordingFor(w, r, c, ActionJoinSession)
	if !ok {
		return
	}
	rec := t.liveRecorder(m.TunnelID)
	if rec == nil {
		writeError(w, http.StatusNotFound, "SessionNotLive", "The session of the tunnel '%s' is not running; replay its recording instead.", m.TunnelID)
		return
	}
	if !t.begin(w) {
		return
	}
	defer t.wg.Done()
	ws, err := websocket.Accept(w, r, &websocket.AcceptOptions{})
	if err != nil {
		return
	}
	ws.SetReadLimit(4096)
	ctx, cancel := context.WithCancel(t.ctx)
	defer cancel()
	code, reason := t.streamLive(ctx, r, ws, rec)
	_ = ws.Close(code, reason)
}

func (t *Terminal) streamLive(ctx context.Context, r *http.Request, ws *websocket.Conn, rec *recorder) (websocket.StatusCode, string) {
	rctx, rcancel := context.WithTimeout(ctx, firstMessageTimeout)
	_, b, err := ws.Read(rctx)
	rcancel()
	var first struct {
		CSRF string `json:"csrf"`
	}
	if err != nil || json.Unmarshal(b, &first) != nil || !t.cfg.CheckCSRF(r, first.CSRF) {
		return websocket.StatusPolicyViolation, "CSRF token missing or wrong"
	}
	size, v, leave, err := rec.join()
	if err != nil {
		return websocket.StatusNormalClosure, "The session ended"
	}
	defer leave()
	// The viewer's messages are read (and dropped) so that its close and
	// pings are seen; its going ends the stream.
	ctx = ws.CloseRead(ctx)
	send := func(p []byte) bool {
		wctx, cancel := context.WithTimeout(ctx, writeTimeout)
		defer cancel()
		return ws.Write(wctx, websocket.MessageText, p) == nil
	}
	if !sendRecorded(rec.path, size, send) {
		return websocket.StatusNormalClosure, ""
	}
	for {
		select {
		case line, ok := <-v.ch:
			v.got(line)
			if !ok {
				if rec.isDone() {
					return websocket.StatusNormalClosure, "The session ended"
				}
				return websocket.StatusPolicyViolation, "The viewer fell too far behind"
			}
			if !send(line) {
				return websocket.StatusNormalClosure, ""
			}
		case <-ctx.Done():
			return websocket.StatusGoingAway, ""
		}
	}
}

// sendRecorded sends the first size bytes of the recording file (what was
// recorded when the viewer joined) in pieces of whole lines of at most
// about 256 KiB, read from the file a line at a time rather than held in
// memory; false when the file cannot be read or the viewer is gone.
func sendRecorded(path string, size int64, send func([]byte) bool) bool {
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	br := bufio.NewReaderSize(io.LimitReader(f, size), 64<<10)
	var piece []byte
	for {
		line, err := br.ReadBytes('\n')
		if len(piece) > 0 && len(piece)+len(line) > 256<<10 {
			if !send(piece) {
				return false
			}
			piece = piece[:0]
		}
		piece = append(piece, line...)
		if err != nil {
			return err == io.EOF && (len(piece) == 0 || send(piece))
		}
	}
}
