// Package audit builds Postern's audit records in CloudTrail's shape
// (eventVersion 1.08) and stores them durably. Every tunnel attempt is an
// OpenTunnel event, allowed or denied; every tunnel that opened ends with
// a CloseTunnel event (Postern's own, which AWS does not have) carrying the
// bytes each way, the duration and the reason, linked to its OpenTunnel by
// the tunnel id.
//
// Secrets never enter a record: user identities carry access key ids,
// never secret keys or session tokens.
package audit

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/postern/postern/internal/server/identity"
	"github.com/postern/postern/internal/store"
)

// Names of the records this package makes.
const (
	EventVersion        = "1.08"
	SourceInstanceConn  = "ec2-instance-connect.amazonaws.com"
	EventOpenTunnel     = store.EventNameOpenTunnel
	EventCloseTunnel    = store.EventNameCloseTunnel
	ResourceTypeEICE    = "AWS::EC2::InstanceConnectEndpoint"
	timeFormat          = "2006-01-02T15:04:05Z"
	eventTypeAPICall    = "AwsApiCall"
	eventTypeService    = "AwsServiceEvent"
	categoryManagement  = "Management"
	userTypeIAMUser     = identity.TypeIAMUser
	userTypeAssumedRole = identity.TypeAssumedRole
)

// UserIdentity is CloudTrail's userIdentity block.
type UserIdentity struct {
	Type           string          `json:"type"`
	PrincipalID    string          `json:"principalId,omitempty"`
	ARN            string          `json:"arn,omitempty"`
	AccountID      string          `json:"accountId,omitempty"`
	AccessKeyID    string          `json:"accessKeyId,omitempty"`
	UserName       string          `json:"userName,omitempty"`
	SessionContext *SessionContext `json:"sessionContext,omitempty"`
	// IdentityProvider is the provider of a WebIdentityUser (the
	// AssumeRoleWithWebIdentity call itself): the OIDC provider's ARN.
	IdentityProvider string `json:"identityProvider,omitempty"`
}

// SessionContext describes a role session.
type SessionContext struct {
	SessionIssuer SessionIssuer `json:"sessionIssuer"`
	// WebIdFederationData names the web identity of a session issued by
	// AssumeRoleWithWebIdentity.
	WebIdFederationData *WebIdFederationData `json:"webIdFederationData,omitempty"`
	Attributes          SessionAttributes    `json:"attributes"`
	// SourceIdentity is the session's source identity, when it has one.
	SourceIdentity string `json:"sourceIdentity,omitempty"`
}

// WebIdFederationData is CloudTrail's webIdFederationData: the OIDC
// provider and the token's attributes ("<provider url>:sub", ":aud").
type WebIdFederationData struct {
	FederatedProvider string            `json:"federatedProvider"`
	Attributes        map[string]string `json:"attributes"`
}

// UserTypeWebIdentity is the userIdentity type of the
// AssumeRoleWithWebIdentity call's own record.
const UserTypeWebIdentity = "WebIdentityUser"

// WebIdentityUser returns the userIdentity of an AssumeRoleWithWebIdentity
// call whose token verified, as CloudTrail writes it: principalId
// "<provider>:<aud>:<sub>", userName the subject, identityProvider the
// provider (the IAM OIDC provider's ARN).
func WebIdentityUser(provider, audience, subject string) UserIdentity {
	return UserIdentity{Type: UserTypeWebIdentity, PrincipalID: provider + ":" + audience + ":" + subject,
		UserName: subject, IdentityProvider: provider}
}

// webIdFederation returns the webIdFederationData of a federated session.
func webIdFederation(w *store.WebIdentity) *WebIdFederationData {
	url := w.Provider[strings.IndexByte(w.Provider, '/')+1:] // arn:aws:iam::<acct>:oidc-provider/<url>
	return &WebIdFederationData{FederatedProvider: w.Provider,
		Attributes: map[string]string{url + ":aud": w.Audience, url + ":sub": w.Subject}}
}

// SessionIssuer is the role behind a session; empty ({}) for an IAM
// user's console session, as CloudTrail writes it.
type SessionIssuer struct {
	Type        string `json:"type,omitempty"`
	PrincipalID string `json:"principalId,omitempty"`
	ARN         string `json:"arn,omitempty"`
	AccountID   string `json:"accountId,omitempty"`
	UserName    string `json:"userName,omitempty"`
}

// SessionAttributes are a session's attributes.
type SessionAttributes struct {
	CreationDate     string `json:"creationDate"`
	MFAAuthenticated string `json:"mfaAuthenticated"`
}

// Identity returns the userIdentity of a principal. p may be nil (the
// request could not be authenticated); accessKeyID is then the key the
// request named, if any.
func Identity(p *identity.Principal, accountID, accessKeyID string) UserIdentity {
	if p == nil {
		u := UserIdentity{Type: "Unknown", AccountID: accountID, AccessKeyID: accessKeyID}
		return u
	}
	u := UserIdentity{Type: p.Type, PrincipalID: p.PrincipalID, ARN: p.ARN, AccountID: p.AccountID, AccessKeyID: p.AccessKeyID}
	switch p.Type {
	case userTypeIAMUser:
		u.UserName = p.UserName
		if p.Temporary() {
			// A console session of the user: CloudTrail gives its
			// creation date and MFA flag, with no issuer.
			u.SessionContext = &SessionContext{
				Attributes: SessionAttributes{CreationDate: p.SessionIssued.UTC().Format(timeFormat), MFAAuthenticated: fmt.Sprint(p.MFAAuthenticated)},
			}
		}
	case userTypeAssumedRole:
		u.SessionContext = &SessionContext{
			SessionIssuer: SessionIssuer{Type: "Role", PrincipalID: p.RoleID, ARN: p.RoleARN, AccountID: p.AccountID, UserName: p.UserName},
			Attributes:    SessionAttributes{CreationDate: p.SessionIssued.UTC().Format(timeFormat), MFAAuthenticated: fmt.Sprint(p.MFAAuthenticated)},
		}
		if w := p.WebIdentity; w != nil {
			u.SessionContext.WebIdFederationData = webIdFederation(w)
			u.SessionContext.SourceIdentity = w.SourceIdentity
		}
	}
	return u
}

// Resource is an entry of a record's resources.
type Resource struct {
	AccountID string `json:"accountId"`
	Type      string `json:"type"`
	ARN       string `json:"ARN"`
}

// Record is a CloudTrail event record.
type Record struct {
	EventVersion        string       `json:"eventVersion"`
	UserIdentity        UserIdentity `json:"userIdentity"`
	EventTime           string       `json:"eventTime"`
	EventSource         string       `json:"eventSource"`
	EventName           string       `json:"eventName"`
	AWSRegion           string       `json:"awsRegion"`
	SourceIPAddress     string       `json:"sourceIPAddress"`
	UserAgent           string       `json:"userAgent"`
	ErrorCode           string       `json:"errorCode,omitempty"`
	ErrorMessage        string       `json:"errorMessage,omitempty"`
	RequestParameters   any          `json:"requestParameters"`
	ResponseElements    any          `json:"responseElements"`
	AdditionalEventData any          `json:"additionalEventData,omitempty"`
	ServiceEventDetails any          `json:"serviceEventDetails,omitempty"`
	RequestID           string       `json:"requestID,omitempty"`
	EventID             string       `json:"eventID"`
	ReadOnly            bool         `json:"readOnly"`
	Resources           []Resource   `json:"resources,omitempty"`
	EventType           string       `json:"eventType"`
	ManagementEvent     bool         `json:"managementEvent"`
	RecipientAccountID  string       `json:"recipientAccountId"`
	EventCategory       string       `json:"eventCategory"`
	TLSDetails          *TLSDetails  `json:"tlsDetails,omitempty"`

	at time.Time // EventTime at full precision, for the store's ordering
}

// TLSDetails is CloudTrail's tlsDetails block.
type TLSDetails struct {
	TLSVersion               string `json:"tlsVersion"`
	CipherSuite              string `json:"cipherSuite"`
	ClientProvidedHostHeader string `json:"clientProvidedHostHeader"`
}

// OpenTunnelParams are an OpenTunnel event's requestParameters: all
// strings, maxTunnelDuration always present (3600 when the request omitted
// it), as AWS records them.
type OpenTunnelParams struct {
	InstanceConnectEndpointID string `json:"instanceConnectEndpointId"`
	MaxTunnelDuration         string `json:"maxTunnelDuration"`
	RemotePort                string `json:"remotePort"`
	PrivateIPAddress          string `json:"privateIpAddress"`
}

// OpenTunnelData is Postern's additionalEventData of an OpenTunnel event.
type OpenTunnelData struct {
	TunnelID string `json:"tunnelId,omitempty"`
	AgentID  string `json:"agentId,omitempty"`
}

// CloseDetails are a CloseTunnel event's serviceEventDetails.
type CloseDetails struct {
	TunnelID string `json:"tunnelId"`
	// AgentID is the agent that carried the tunnel, or whose answer to
	// its dial ended it; the one asked first when none answered, and in
	// a close recovery recorded (it cannot know the carrier).
	AgentID string `json:"agentId,omitempty"`
	// OpenAgentID is the agent the tunnel's OpenTunnel record names
	// (additionalEventData.agentId): the first the relay asked, named
	// before its answer because that record commits while it dials. It
	// differs from AgentID when that agent failed before it answered
	// (drained, its link broke) and another carried the tunnel; an
	// auditor joins the two records on the tunnel id and sees both.
	OpenAgentID     string  `json:"openAgentId,omitempty"`
	BytesIn         int64   `json:"bytesIn"`  // client → target
	BytesOut        int64   `json:"bytesOut"` // target → client
	DurationSeconds float64 `json:"durationSeconds"`
	Reason          string  `json:"reason"`    // a tunnelproto code, or "Normal"
	CloseCode       int     `json:"closeCode"` // the WebSocket close code sent
	Message         string  `json:"message"`   // the reason told to the client
	OpenEventID     string  `json:"openEventId"`
	OpenedAt        string  `json:"openedAt"`
	RemotePort      string  `json:"remotePort"`
	PrivateIP       string  `json:"privateIpAddress"`
	EndpointID      string  `json:"instanceConnectEndpointId"`
}

// Meta is what every record of a request shares.
type Meta struct {
	AccountID, Region string
	Principal         *identity.Principal
	AccessKeyID       string // when Principal is nil
	SourceIP          string
	UserAgent         string
	RequestID         string
	Time              time.Time
	// EventID is the record's id; a new uuid when empty (newEventID).
	EventID string
}

// newEventID returns a new record id: a UUID of version 7 (RFC 9562),
// whose first 48 bits are the Unix time in milliseconds, so that the ids
// of a process's records ascend. CloudTrail's eventID is a UUID and the
// text has the same shape as a random (version 4) one; the order is for
// the store: its unique index on the id then grows at its end, as its
// time indexes do, where a random id lands on a random leaf of an index
// that outgrows the page cache (a read of the page, a leaf split now and
// then, pages left ~70 % full). One read-only record's commit with
// SQLite cost 19-27 % less CPU with these ids (sqlstore's
// BenchmarkReadOnlyRecord, 100,000 records already stored). The ids
// carry no more than the record's own eventTime already says.
func newEventID() string {
	if u, err := uuid.NewV7(); err == nil {
		return u.String()
	}
	return uuid.NewString()
}

func (m Meta) record(name, eventType string) Record {
	id := m.EventID
	if id == "" {
		id = newEventID()
	}
	return Record{
		EventVersion: EventVersion, UserIdentity: Identity(m.Principal, m.AccountID, m.AccessKeyID),
		EventTime: m.Time.UTC().Format(timeFormat), EventSource: SourceInstanceConn, EventName: name,
		AWSRegion: m.Region, SourceIPAddress: m.SourceIP, UserAgent: m.UserAgent, RequestID: m.RequestID,
		EventID: id, EventType: eventType, ManagementEvent: true,
		RecipientAccountID: m.AccountID, EventCategory: categoryManagement, at: m.Time.UTC(),
	}
}

// OpenTunnel builds the record of a tunnel attempt. errCode and errMsg are
// empty when the tunnel opened.
func OpenTunnel(m Meta, p OpenTunnelParams, endpointARN string, data OpenTunnelData, errCode, errMsg string) Record {
	r := m.record(EventOpenTunnel, eventTypeAPICall)
	r.RequestParameters = p
	r.ErrorCode, r.ErrorMessage = errCode, errMsg
	if data != (OpenTunnelData{}) {
		r.AdditionalEventData = data
	}
	if endpointARN != "" {
		r.Resources = []Resource{{AccountID: m.AccountID, Type: ResourceTypeEICE, ARN: endpointARN}}
	}
	return r
}

// APICall builds the record of an API call: its source and name, whether
// it only reads, its request parameters and response elements (nil when
// it failed), the resource it acted on, and the error when it failed.
func APICall(m Meta, source, name string, readOnly bool, params, response any, resourceType, arn, errCode, errMsg string) Record {
	r := m.record(name, eventTypeAPICall)
	r.EventSource = source
	r.ReadOnly = readOnly
	r.RequestParameters, r.ResponseElements = params, response
	r.ErrorCode, r.ErrorMessage = errCode, errMsg
	if arn != "" {
		r.Resources = []Resource{{AccountID: m.AccountID, Type: resourceType, ARN: arn}}
	}
	return r
}

// CloseTunnel builds the record of a tunnel's end.
func CloseTunnel(m Meta, d CloseDetails, endpointARN string) Record {
	r := m.record(EventCloseTunnel, eventTypeService)
	r.ServiceEventDetails = d
	r.Resources = []Resource{{AccountID: m.AccountID, Type: ResourceTypeEICE, ARN: endpointARN}}
	return r
}

// Event turns a record into the store's form.
func Event(r Record, tunnelID, resourceName string) (store.Event, error) {
	body, err := encodeRecord(&r)
	if err != nil {
		return store.Event{}, fmt.Errorf("audit: encode %s: %w", r.EventName, err)
	}
	t := r.at
	if t.IsZero() {
		if t, err = time.Parse(timeFormat, r.EventTime); err != nil {
			return store.Event{}, fmt.Errorf("audit: event time: %w", err)
		}
	}
	e := store.Event{EventID: r.EventID, EventTime: t, EventSource: r.EventSource, EventName: r.EventName,
		ReadOnly: r.ReadOnly, Username: r.UserIdentity.UserName, AccessKeyID: r.UserIdentity.AccessKeyID,
		ErrorCode: r.ErrorCode, TunnelID: tunnelID, RequestID: r.RequestID, Body: body}
	if e.Username == "" && r.UserIdentity.SessionContext != nil {
		e.Username = r.UserIdentity.SessionContext.SessionIssuer.UserName
	}
	if len(r.Resources) > 0 {
		e.ResourceType, e.ResourceName = r.Resources[0].Type, resourceName
	}
	return e, nil
}

// Writer stores records durably, through a Batcher (group commit), or,
// for the work run by InTx, in the transaction of that work.
type Writer struct {
	b   *Batcher
	txs txStore // nil when the store has no transactions
}

// txStore is the part of store.Store that InTx needs.
type txStore interface {
	InTx(ctx context.Context, fn func(tx store.Repo) error) error
}

// NewWriter returns a Writer over a store, copying what it commits to
// sinks; onSinkError (may be nil) hears of a sink's failure. When st is a
// store.Store, InTx commits records with the changes they describe.
func NewWriter(st store.Events, onSinkError func(error), sinks ...Sink) *Writer {
	b := NewBatcher(st)
	b.sinks, b.onSink = sinks, onSinkError
	txs, _ := st.(txStore)
	return &Writer{b: b, txs: txs}
}

// ObserveCommits sets a function told how long each commit took.
func (w *Writer) ObserveCommits(f func(time.Duration)) {
	if w != nil && w.b != nil {
		w.b.observe = f
	}
}

// Write stores a record; when it returns nil the record is committed. With
// the context of work run by InTx, the record joins that work's
// transaction instead: it is committed with the work's changes, or, when
// the work fails, on its own after the rollback (see InTx).
func (w *Writer) Write(ctx context.Context, r Record, tunnelID, resourceName string) error {
	if w == nil || w.b == nil {
		return ErrNoStore
	}
	e, err := Event(r, tunnelID, resourceName)
	if err != nil {
		return err
	}
	if c, _ := ctx.Value(callKey{}).(*callRecords); c != nil && c.add(e) {
		return nil
	}
	if err := w.b.Append(ctx, e); err != nil {
		if late := lateCloseError(&r, err); late != nil {
			return late
		}
		return fmt.Errorf("audit: store %s event: %w", r.EventName, err)
	}
	return nil
}

// Console sign-in records, in CloudTrail's shape for AWS Management
// Console sign-ins.
const (
	SourceSignin         = "signin.amazonaws.com"
	EventConsoleLogin    = "ConsoleLogin"
	eventTypeConsoleSign = "AwsConsoleSignIn"
	// HiddenUserName stands in a failed sign-in's record for a user name
	// that names no user, as in CloudTrail: people type passwords into
	// the user name field, and a record must not keep one.
	HiddenUserName = "HIDDEN_DUE_TO_SECURITY_REASONS"
	// FailedAuthentication is a failed sign-in's errorMessage.
	FailedAuthentication = "Failed authentication"
)

// ConsoleLoginResponse is a ConsoleLogin record's responseElements.
type ConsoleLoginResponse struct {
	ConsoleLogin string `json:"ConsoleLogin"` // "Success" or "Failure"
}

// ConsoleLoginData is a ConsoleLogin record's additionalEventData.
type ConsoleLoginData struct {
	LoginTo       string `json:"LoginTo"`
	MobileVersion string `json:"MobileVersion"`
	MFAUsed       string `json:"MFAUsed"` // "Yes" or "No"
	MFAIdentifier string `json:"MFAIdentifier,omitempty"`
}

// ConsoleLoginAttempt is what a ConsoleLogin record tells of one
// sign-in attempt.
type ConsoleLoginAttempt struct {
	// UserName is the user who signed in, or the name a failed attempt
	// gave; UserID is that user's AIDA… when the user exists (empty for
	// an unknown name, which the record then hides).
	UserName, UserID, UserARN string
	// AccessKeyID is the console session's ASIA… id (successes only).
	AccessKeyID string
	Success     bool
	MFAUsed     bool
	// LoginTo is the page the person signed in to.
	LoginTo string
	// ErrorCode, on a failure, tells why when it was not the credentials
	// (Throttling: refused before they were checked).
	ErrorCode string
}

// ConsoleLogin builds the record of a console sign-in attempt, successful
// or not (m.Principal is not used: the attempt says who).
func ConsoleLogin(m Meta, a ConsoleLoginAttempt) Record {
	m.Principal = nil
	r := m.record(EventConsoleLogin, eventTypeConsoleSign)
	r.EventSource = SourceSignin
	u := UserIdentity{Type: userTypeIAMUser, PrincipalID: a.UserID, AccountID: m.AccountID, UserName: a.UserName}
	if a.UserID == "" {
		u.UserName = HiddenUserName
	}
	if a.Success {
		u.ARN, u.AccessKeyID = a.UserARN, a.AccessKeyID
	}
	r.UserIdentity = u
	result := "Failure"
	if a.Success {
		result = "Success"
	} else {
		r.ErrorCode, r.ErrorMessage = a.ErrorCode, FailedAuthentication
	}
	mfa := "No"
	if a.MFAUsed {
		mfa = "Yes"
	}
	r.ResponseElements = ConsoleLoginResponse{ConsoleLogin: result}
	r.AdditionalEventData = ConsoleLoginData{LoginTo: a.LoginTo, MobileVersion: "No", MFAUsed: mfa}
	return r
}

// recordEncoder is a json.Encoder writing into its own buffer, pooled:
// encodeRecord then allocates only the record's string, where
// json.Marshal allocated the bytes and string() copied them (2–4.5 KB
// per API call, twice).
type recordEncoder struct {
	buf bytes.Buffer
	enc *json.Encoder
}

// maxPooledRecord bounds the buffer a pooled encoder keeps.
const maxPooledRecord = 64 << 10

var recordEncoders = sync.Pool{New: func() any {
	e := &recordEncoder{}
	e.enc = json.NewEncoder(&e.buf) // escapes HTML, as json.Marshal does
	return e
}}

// encodeRecord returns r's JSON: the bytes json.Marshal(r) returns
// (json.Encoder adds only the final newline, which is dropped).
func encodeRecord(r *Record) (string, error) {
	e := recordEncoders.Get().(*recordEncoder)
	e.buf.Reset()
	err := e.enc.Encode(r)
	var body string
	if err == nil {
		b := e.buf.Bytes()
		body = string(b[:len(b)-1])
	}
	if e.buf.Cap() <= maxPooledRecord {
		recordEncoders.Put(e)
	}
	return body, err
}
