package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
)

// Names of the two tunnel records the store journals (package audit makes
// them): an Event of either name with a TunnelID is a tunnel's open (when
// its ErrorCode is empty: the tunnel opened) or its close.
const (
	EventNameOpenTunnel  = "OpenTunnel"
	EventNameCloseTunnel = "CloseTunnel"
)

// Journalled reports whether e is a tunnel record the journal follows
// (see TunnelJournal): a tunnel's OpenTunnel or CloseTunnel record. Such
// a record is never committed as a read-only one (without waiting for
// the disk, by a path that leaves the journal alone), whatever its
// ReadOnly says.
func (e *Event) Journalled() bool {
	return e.TunnelID != "" && (e.EventName == EventNameOpenTunnel || e.EventName == EventNameCloseTunnel)
}

// RecoveredCloseEventID is the event id of the CloseTunnel record that
// recovery commits for a tunnel (CloseUnclosedTunnel): derived from the
// tunnel id alone, so the same for every process that would record it,
// and found again by a primary-key look-up.
func RecoveredCloseEventID(tunnelID string) string {
	return uuid.NewSHA1(uuid.NameSpaceURL, []byte("postern:unclosed-tunnel:"+tunnelID)).String()
}

// ErrCloseRecovered is returned (wrapped) by AppendEvents of a
// TunnelJournal for a tunnel's CloseTunnel record when the tunnel is no
// longer in the journal because recovery already recorded its close (the
// record RecoveredCloseEventID names is committed): its carrier was taken
// for gone while it still ran (cut off from the store, clock skew). The
// late record is not committed, nor anything else of that call: a tunnel
// has one CloseTunnel record.
var ErrCloseRecovered = errors.New("store: the tunnel's close was already recorded by recovery (its server was taken for gone)")

// CloseRecoveredError is the error (wrapped) by which a TunnelJournal
// refuses a late CloseTunnel record: it names the record refused, so that
// a caller that appended several records in one call (errors.As) can
// drop that one and append the others again. It wraps ErrCloseRecovered.
type CloseRecoveredError struct {
	// EventID and TunnelID are the refused record's event id and tunnel;
	// EventTime is its time.
	EventID, TunnelID string
	EventTime         time.Time
}

// Error implements error.
func (e *CloseRecoveredError) Error() string {
	return fmt.Sprintf("the close of tunnel %s at %s (record %s) is not recorded: %v", e.TunnelID,
		e.EventTime.UTC().Format(time.RFC3339Nano), e.EventID, ErrCloseRecovered)
}

// Unwrap returns ErrCloseRecovered.
func (e *CloseRecoveredError) Unwrap() error { return ErrCloseRecovered }

// UnclosedTunnel is a tunnel whose OpenTunnel record is committed and
// whose CloseTunnel record is not, as the journal of a TunnelJournal
// keeps it, with what is known of the process that carried it.
type UnclosedTunnel struct {
	TunnelID string
	// Carrier is the process that recorded the open (TunnelCarrier).
	Carrier string
	// Open is the tunnel's OpenTunnel record.
	Open Event
	// CarrierSeen is the last time the carrier announced itself as a
	// replica (zero when it never did).
	CarrierSeen time.Time
	// BytesIn, BytesOut and BytesAt are the byte counts the carrier last
	// published for the tunnel (live tunnels), and when; BytesAt is zero
	// when it published none.
	BytesIn, BytesOut int64
	BytesAt           time.Time
}

// TunnelJournal is implemented by stores that journal open tunnels: every
// AppendEvents (or AppendEvent, alone or inside InTx) that commits a
// tunnel's OpenTunnel record (EventNameOpenTunnel, a TunnelID, no
// ErrorCode) adds the tunnel to the journal in the same transaction,
// under this process's carrier; one that commits its CloseTunnel record
// (EventNameCloseTunnel with its TunnelID) removes it. A CloseTunnel
// record of a tunnel not in the journal is committed (a tunnel opened
// before the store kept a journal) unless recovery recorded the tunnel's
// close (RecoveredCloseEventID): the call then fails with
// ErrCloseRecovered and commits nothing, at the cost of one primary-key
// look-up, made only for a close whose tunnel was not in the journal
// (the error is a *CloseRecoveredError naming the record).
// The journal thus lists the tunnels the trail shows open; those whose
// carrier is gone (a crash, a power loss, a replica cut off) are closed
// with CloseUnclosedTunnel.
type TunnelJournal interface {
	// SetTunnelCarrier names this process in the journal rows it adds
	// from now on (its replica id on a shared store). Call it before the
	// first tunnel opens; by default a store uses a random name of its
	// own.
	SetTunnelCarrier(carrier string)
	// TunnelCarrier returns the name SetTunnelCarrier set (or the
	// store's own).
	TunnelCarrier() string
	// UnclosedTunnelsAfter returns the journalled tunnels whose carrier
	// is not in keep and has not announced itself as a replica at or
	// after seenSince (the zero time: whatever it announced), in tunnel
	// id order from the first tunnel id greater than after (all when
	// after is empty), at most limit (all when limit <= 0): a caller
	// pages through the journal with the last id of each page, reading
	// each row once. (Tests list it oldest first with
	// storetest.UnclosedTunnels.)
	UnclosedTunnelsAfter(ctx context.Context, keep []string, seenSince time.Time, after string, limit int) ([]UnclosedTunnel, error)
	// CloseUnclosedTunnel commits e, the CloseTunnel record of a
	// journalled tunnel, and removes the tunnel from the journal in one
	// transaction. It returns false, committing nothing, when the tunnel
	// is no longer in the journal (its close was recorded meanwhile, by
	// its carrier or by another process closing it).
	CloseUnclosedTunnel(ctx context.Context, tunnelID string, e Event) (bool, error)
	// LastEventTime returns the time of the latest record committed
	// before t (the zero time when there is none).
	LastEventTime(ctx context.Context, before time.Time) (time.Time, error)
}
