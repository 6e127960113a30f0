package webterm

import (
	"strings"
	"testing"

	"github.com/postern/postern/internal/server/config"
)

// TestLiveViewerBacklogBounded: a live viewer that stops reading (its
// WebSocket stalled, up to the write timeout) is dropped once what is
// queued for it passes maxViewerBacklog bytes. Before, its queue was 1024
// lines of up to about 200 KB each (32 KiB of output, JSON-escaped): some
// 200 MB per stalled viewer, and a person allowed postern:JoinSession
// could open many.
func TestLiveViewerBacklogBounded(t *testing.T) {
	term := newTestTerminal(t, config.Console{RecordSessions: true, RecordingMaxMB: 1024})
	rec, err := term.startRecording(recordingMeta{TunnelID: "tnl-0123456789abcdef", EndpointARN: "arn:aws:ec2:us-east-1:123456789012:instance-connect-endpoint/eice-1"}, 80, 24)
	if err != nil {
		t.Fatal(err)
	}
	defer rec.finish()
	_, v, leave, err := rec.join()
	if err != nil {
		t.Fatal(err)
	}
	defer leave()
	chunk := []byte(strings.Repeat("\x01", 32<<10)) // escaped as \u0001: about 192 KB a line
	var sent int
	for sent = 0; sent < 1024; sent++ { // bounded: the old queue's length
		rec.output(chunk)
		if v.dropped() {
			break
		}
	}
	if !v.dropped() {
		t.Fatalf("a viewer that read nothing is still fed after %d lines", sent)
	}
	if q := v.queued.Load(); q > maxViewerBacklog {
		t.Fatalf("%d bytes queued for the viewer, more than %d", q, maxViewerBacklog)
	}
}
