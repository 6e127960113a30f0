package audit

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/postern/postern/internal/store"
)

// Reasons of the CloseTunnel records of tunnels whose server stopped
// without recording their close (CloseDetails.Reason).
const (
	// ReasonServerRestart: the server (alone on its store) stopped
	// without closing the tunnel — killed, crashed, power lost — and has
	// started again.
	ReasonServerRestart = "ServerRestart"
	// ReasonReplicaGone: the replica carrying the tunnel stopped
	// announcing itself to the replicas sharing its store (a restarted
	// server is a new replica).
	ReasonReplicaGone = "ReplicaGone"
)

// closeCodeAbnormal is the WebSocket close code of a connection that
// ended without a close frame (RFC 6455, 7.1.5): nobody sent one.
const closeCodeAbnormal = 1006

// unclosedMessage is the message of a recovered CloseTunnel record.
const unclosedMessage = "The server carrying the tunnel stopped without recording its close; " +
	"the end time is the last time that server was known to be running."

// Unclosed says which journalled tunnels CloseUnclosedTunnels closes and
// how it records them.
type Unclosed struct {
	// Keep are the carriers still running (this process's among them);
	// their tunnels are left alone.
	Keep []string
	// SeenSince, when not zero, also keeps the carriers that announced
	// themselves as replicas at or after it.
	SeenSince time.Time
	// Reason is the records' reason (ReasonServerRestart,
	// ReasonReplicaGone).
	Reason string
	// LastAlive, when not zero, is a time the carriers were known to be
	// running (before a restart: the last record the store holds from
	// before it).
	LastAlive time.Time
	// Now is the time of the recovery; time.Now when zero.
	Now time.Time
}

// unclosedPage bounds the tunnels read at once.
const unclosedPage = 256

// CloseUnclosedTunnels records the close of every journalled tunnel (see
// store.TunnelJournal) whose carrier is gone, as u says, and returns how
// many it closed. Each record is committed with the tunnel's removal
// from the journal, so the tunnel is closed exactly once whoever else
// tries (a replica racing, a crash during this recovery: the next one
// goes on). Committed records go to the sinks as any others.
//
// A tunnel whose close fails (its record cannot be built or committed)
// stays in the journal for the next recovery and does not stop this one:
// the other tunnels are closed, and the failures are returned together
// (errors.Join, the first maxUnclosedErrors of them) with the count of
// those closed. An error reading the journal ends the recovery.
//
// A record's end time is the best known: the latest of the tunnel's open,
// u.LastAlive, the carrier's last announce and its last byte counts'
// publication, but not past the tunnel's maximum duration nor now; its
// byte counts are those last published (0 when none were).
func (w *Writer) CloseUnclosedTunnels(ctx context.Context, j store.TunnelJournal, u Unclosed) (int, error) {
	if w == nil || w.b == nil {
		return 0, ErrNoStore
	}
	now := u.Now
	if now.IsZero() {
		now = time.Now()
	}
	closed, failed := 0, 0 // failed: the tunnels whose close failed
	var errs []error
	fail := func(err error) {
		if failed++; len(errs) < maxUnclosedErrors {
			errs = append(errs, err)
		}
	}
	// done returns the failures; readErr (may be nil), an error reading
	// the journal, is returned whatever the count of the others.
	done := func(readErr error) error {
		if failed > len(errs) {
			errs = append(errs, fmt.Errorf("audit: %d more tunnels not closed", failed-len(errs)))
		}
		return errors.Join(append(errs, readErr)...)
	}
	// The journal is read in pages, in tunnel id order, each after the
	// last id of the one before: each row is read once, whatever fails,
	// and the loop ends (every page but the last is full and moves the
	// cursor on). A tunnel that joins the journal behind the cursor
	// meanwhile (a carrier not kept, committing an open late) is left to
	// the next recovery.
	after := ""
	for {
		page, err := j.UnclosedTunnelsAfter(ctx, u.Keep, u.SeenSince, after, unclosedPage)
		if err != nil {
			return closed, done(fmt.Errorf("audit: unclosed tunnels: %w", err))
		}
		for _, t := range page {
			e, err := unclosedEvent(t, u, now)
			if err != nil {
				fail(fmt.Errorf("audit: close unclosed tunnel %s: %w", t.TunnelID, err))
				continue
			}
			ok, err := j.CloseUnclosedTunnel(ctx, t.TunnelID, e)
			if err != nil {
				fail(fmt.Errorf("audit: close unclosed tunnel %s: %w", t.TunnelID, err))
				if ctx.Err() != nil { // the rest would fail the same
					return closed, done(nil)
				}
				continue
			}
			if ok {
				closed++
				w.b.toSinks([]store.Event{e})
			}
		}
		if len(page) < unclosedPage {
			return closed, done(nil)
		}
		after = page[len(page)-1].TunnelID
	}
}

// maxUnclosedErrors bounds the failures CloseUnclosedTunnels returns one
// by one.
const maxUnclosedErrors = 8

// lateCloseError says what became of the real CloseTunnel record r of a
// tunnel whose close recovery had already recorded
// (store.ErrCloseRecovered): it is not stored, and the error keeps what
// it told (end, reason, byte counts) for the log.
func lateCloseError(r *Record, err error) error {
	d, ok := r.ServiceEventDetails.(CloseDetails)
	if !ok || !errors.Is(err, store.ErrCloseRecovered) {
		return nil
	}
	return fmt.Errorf("audit: tunnel %s closed at %s (reason %s, %d bytes in, %d bytes out, %.3f s) after recovery recorded its close; "+
		"this close is not stored, the recovered record stays: %w", d.TunnelID, r.EventTime, d.Reason, d.BytesIn, d.BytesOut, d.DurationSeconds, err)
}

// openRecord is what a CloseTunnel record takes from its OpenTunnel
// record.
type openRecord struct {
	UserIdentity       UserIdentity     `json:"userIdentity"`
	AWSRegion          string           `json:"awsRegion"`
	SourceIPAddress    string           `json:"sourceIPAddress"`
	UserAgent          string           `json:"userAgent"`
	RequestParameters  OpenTunnelParams `json:"requestParameters"`
	AdditionalData     OpenTunnelData   `json:"additionalEventData"`
	RequestID          string           `json:"requestID"`
	Resources          []Resource       `json:"resources"`
	RecipientAccountID string           `json:"recipientAccountId"`
}

// UnclosedEventID is the event id of the recovered CloseTunnel record of
// a tunnel: the same for every process that would record it.
func UnclosedEventID(tunnelID string) string { return store.RecoveredCloseEventID(tunnelID) }

// unclosedEvent builds the CloseTunnel record of an unclosed tunnel.
func unclosedEvent(t store.UnclosedTunnel, u Unclosed, now time.Time) (store.Event, error) {
	// A record that cannot be read (never written so by this package)
	// still gets its close, from what the journal and its columns say.
	var open openRecord
	if err := json.Unmarshal([]byte(t.Open.Body), &open); err != nil {
		open = openRecord{RequestID: t.Open.RequestID, UserIdentity: UserIdentity{Type: "Unknown", AccessKeyID: t.Open.AccessKeyID}}
	}
	opened := t.Open.EventTime
	end := opened
	for _, at := range []time.Time{u.LastAlive, t.CarrierSeen, t.BytesAt} {
		if at.After(end) {
			end = at
		}
	}
	if s, err := strconv.Atoi(open.RequestParameters.MaxTunnelDuration); err == nil && s > 0 {
		if deadline := opened.Add(time.Duration(s) * time.Second); end.After(deadline) {
			end = deadline
		}
	}
	if end.After(now) {
		end = now
	}
	if end.Before(opened) {
		end = opened
	}
	p := open.RequestParameters
	d := CloseDetails{TunnelID: t.TunnelID, AgentID: open.AdditionalData.AgentID, OpenAgentID: open.AdditionalData.AgentID, BytesIn: t.BytesIn, BytesOut: t.BytesOut,
		DurationSeconds: end.Sub(opened).Seconds(), Reason: u.Reason, CloseCode: closeCodeAbnormal, Message: unclosedMessage,
		OpenEventID: t.Open.EventID, OpenedAt: opened.UTC().Format(time.RFC3339Nano), RemotePort: p.RemotePort,
		PrivateIP: p.PrivateIPAddress, EndpointID: p.InstanceConnectEndpointID}
	m := Meta{AccountID: open.RecipientAccountID, Region: open.AWSRegion, SourceIP: open.SourceIPAddress,
		UserAgent: open.UserAgent, RequestID: open.RequestID, Time: end, EventID: UnclosedEventID(t.TunnelID)}
	arn := ""
	if len(open.Resources) > 0 {
		arn = open.Resources[0].ARN
	}
	rec := CloseTunnel(m, d, arn)
	rec.UserIdentity = open.UserIdentity
	return Event(rec, t.TunnelID, t.Open.ResourceName)
}
