// Package tunnelproto is the wire format between the Postern server and its
// endpoint agents. It is pure: types, constants and codecs, no sockets.
//
// # The link
//
// An agent dials out to the server's TLS listener and authenticates with a
// TLS client certificate made from its own key. It offers the TLS ALPN
// protocols AgentALPN then "http/1.1" (AgentNextProtos): the server asks
// for a client certificate only in handshakes that offer AgentALPN, so
// that ordinary clients (the AWS CLI's TLS stack fails on a
// CertificateRequest) never get one, and it selects "http/1.1", so the
// connection carries HTTP/1.1 as usual. It joins once
// (POST JoinPath with a JoinRequest, answered with a JoinResponse), then
// opens its link on every (re)connection: GET LinkPath with
// "Upgrade: postern-link/1". On 101 Switching Protocols the connection
// carries a multiplexed session (package relay chooses the multiplexer):
// the server opens one stream per tunnel; the agent opens one control
// stream first, on which both sides write JSON lines (Control). On
// LinkPath the agent also lists what it can do beyond a plain dial
// (HeaderAgentFeatures) and, when it cannot preserve client addresses,
// why (HeaderPreserveProblem); the server sends a DialRequest that needs
// a feature only to agents that listed it, so an older agent, which
// ignores the DialRequest fields it does not know, is never asked. The
// 101 answer tells the agent its VPC's networks, its ids, the replicas and
// whether its endpoint preserves client addresses; Control messages tell
// it of later changes. An agent ignores headers and Control types it does
// not know (a newer server's).
//
// # A tunnel stream
//
// Each stream carries frames: a 4-byte header (1 byte FrameType, 3 bytes
// big-endian payload length) and the payload. The server writes one Dial
// frame (a JSON DialRequest); the agent answers with one DialResult frame;
// if it is OK, both sides then write Data frames, one EOF frame when their
// side of the byte stream ends (a half-close), and an End frame (a JSON
// EndReason) when the tunnel ends abnormally (target reset, agent going
// away, maximum duration, revocation). Zero-length Data frames are legal
// and ignored.
package tunnelproto

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strconv"
	"strings"
)

// HTTP surface of the server for agents.
const (
	// AgentALPN is the TLS ALPN protocol an agent offers (before
	// "http/1.1") on every connection to the server; only handshakes that
	// offer it are asked for a client certificate.
	AgentALPN = "postern-agent/1"
	// JoinPath redeems a join token: POST, JSON JoinRequest → JoinResponse.
	JoinPath = "/agent/v1/join"
	// LinkPath opens the link: GET with Upgrade: UpgradeProtocol.
	LinkPath = "/agent/v1/link"
	// UpgradeProtocol is the Upgrade token of the link.
	UpgradeProtocol = "postern-link/1"
	// HeaderAgentName and HeaderAgentVersion describe the agent on LinkPath.
	HeaderAgentName    = "Postern-Agent-Name"
	HeaderAgentVersion = "Postern-Agent-Version"
	// HeaderVPCCIDRs lists, in the 101 answer, the CIDRs of the endpoint's
	// VPC (comma-separated): the only networks the agent may dial.
	HeaderVPCCIDRs = "Postern-Vpc-Cidrs"
	// HeaderAgentID and HeaderEndpointID name the agent and its endpoint in
	// the 101 answer.
	HeaderAgentID    = "Postern-Agent-Id"
	HeaderEndpointID = "Postern-Endpoint-Id"
	// HeaderReplicas lists, in the 101 answer, the live server replicas
	// (FormatReplicas); HeaderReplicaID names the replica that answered.
	HeaderReplicas  = "Postern-Replicas"
	HeaderReplicaID = "Postern-Replica-Id"
	// HeaderAgentFeatures lists, on LinkPath, what the agent can do
	// beyond a plain dial (FormatFeatures: Feature… names, comma-separated).
	// An agent that does not send it (an older one) can do none of them,
	// and the server sends it no DialRequest that needs one.
	HeaderAgentFeatures = "Postern-Agent-Features"
	// HeaderPreserveProblem says, on LinkPath, why the agent cannot
	// preserve client addresses (what its host is missing), when it
	// cannot.
	HeaderPreserveProblem = "Postern-Agent-Preserve-Problem"
	// HeaderEndpointPreserveClientIP says, in the 101 answer, whether the
	// agent's endpoint preserves client addresses (PreserveClientIp):
	// "true" or "false". The agent warns about what its host lacks only
	// when its endpoint asks for preservation; a server that does not send
	// it (an older one) leaves the agent's view unchanged.
	HeaderEndpointPreserveClientIP = "Postern-Endpoint-Preserve-Client-Ip"
)

// ParseEndpointPreserve decodes a HeaderEndpointPreserveClientIP value:
// known is false when the header is missing (an older server) or not a
// boolean.
func ParseEndpointPreserve(s string) (preserve, known bool) {
	v, err := strconv.ParseBool(strings.TrimSpace(s))
	return v, err == nil
}

// Agent features (HeaderAgentFeatures).
const (
	// FeaturePreserveClientIP: the agent can connect from the client's
	// address (DialRequest.PreserveClientIP): it has the capability and
	// its host the routing.
	FeaturePreserveClientIP = "preserve-client-ip"
	// FeatureProxyV2: the agent writes a PROXY protocol v2 header when
	// DialRequest.ProxyProtocol asks for one.
	FeatureProxyV2 = "proxy-v2"
)

// FormatFeatures encodes features for HeaderAgentFeatures.
func FormatFeatures(fs []string) string { return strings.Join(fs, ",") }

// ParseFeatures decodes a HeaderAgentFeatures value; unknown names are
// kept (a newer agent's), empty entries dropped, at most 32 entries.
func ParseFeatures(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" && len(f) <= 64 && len(out) < 32 {
			out = append(out, f)
		}
	}
	return out
}

// AgentNextProtos returns the ALPN list an agent's tls.Config offers:
// AgentALPN, then "http/1.1" (which the server selects).
func AgentNextProtos() []string { return []string{AgentALPN, "http/1.1"} }

// JoinRequest is the body of POST JoinPath. The agent's public key is the
// one in its TLS client certificate.
type JoinRequest struct {
	Token   string `json:"token"` // the join token's secret part
	Name    string `json:"name"`
	Version string `json:"version"`
}

// JoinResponse answers a successful join.
type JoinResponse struct {
	AgentID    string   `json:"agentId"` // eni-…
	EndpointID string   `json:"endpointId"`
	VpcID      string   `json:"vpcId"`
	VpcCIDRs   []string `json:"vpcCidrs"`
}

// ErrorResponse is the JSON body of every non-2xx answer on the agent
// paths. Permanent errors (a revoked agent, a used token, a deleted
// endpoint) must not be retried.
type ErrorResponse struct {
	Code      string `json:"code"`
	Message   string `json:"message"`
	Permanent bool   `json:"permanent"`
}

// Control is one JSON line on the control stream.
type Control struct {
	Type string `json:"type"` // ControlDrain, ControlRevoked, ControlReplicas, ControlVPC, ControlPreserveClientIP
	// Message says why, for ControlRevoked.
	Message string `json:"message,omitempty"`
	// Replicas lists the live server replicas, for ControlReplicas.
	Replicas []Replica `json:"replicas,omitempty"`
	// VpcCIDRs lists the networks of the agent's VPC, for ControlVPC.
	VpcCIDRs []string `json:"vpcCidrs,omitempty"`
	// PreserveClientIP says whether the agent's endpoint preserves client
	// addresses, for ControlPreserveClientIP (a pointer: false is sent).
	PreserveClientIP *bool `json:"preserveClientIp,omitempty"`
}

// Control message types.
const (
	// ControlDrain (agent → server): route no new tunnels to this agent;
	// it is shutting down once its open tunnels end.
	ControlDrain = "drain"
	// ControlRevoked (server → agent): the agent was revoked; it must stop
	// and not reconnect.
	ControlRevoked = "revoked"
	// ControlReplicas (server → agent): the server replicas the agent
	// should keep a link to (each serves tunnels only through agents
	// linked to it).
	ControlReplicas = "replicas"
	// ControlVPC (server → agent): the networks of the agent's VPC
	// changed (an IPv6 block associated or disassociated); the agent
	// dials only inside the new list from then on, as if it had been in
	// the link's HeaderVPCCIDRs. Agents that do not know it ignore it and
	// learn the list at their next link.
	ControlVPC = "vpc"
	// ControlPreserveClientIP (server → agent): whether the agent's
	// endpoint preserves client addresses changed
	// (modify-instance-connect-endpoint), as if it had been in the link's
	// HeaderEndpointPreserveClientIP. Agents that do not know it ignore
	// it.
	ControlPreserveClientIP = "preserve-client-ip"
)

// Replica is a running server replica as agents see it: its id and the
// address (host:port) agents dial to link to it.
type Replica struct {
	ID   string `json:"id"`
	Addr string `json:"addr"`
}

// FormatReplicas encodes replicas for HeaderReplicas: "id=host:port"
// entries separated by commas.
func FormatReplicas(rs []Replica) string {
	parts := make([]string, 0, len(rs))
	for _, r := range rs {
		parts = append(parts, r.ID+"="+r.Addr)
	}
	return strings.Join(parts, ",")
}

// maxReplicas bounds how many replicas an agent accepts from one list.
const maxReplicas = 64

// ParseReplicas decodes a HeaderReplicas value. Entries that are not
// "id=host:port" (an id of letters, digits and '-', a valid host:port)
// are an error; so are duplicates and more than 64 entries.
func ParseReplicas(s string) ([]Replica, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, nil
	}
	parts := strings.Split(s, ",")
	if len(parts) > maxReplicas {
		return nil, fmt.Errorf("tunnelproto: %d replicas, at most %d", len(parts), maxReplicas)
	}
	out := make([]Replica, 0, len(parts))
	seen := map[string]bool{}
	for _, p := range parts {
		id, addr, ok := strings.Cut(strings.TrimSpace(p), "=")
		if !ok || !ValidReplica(Replica{ID: id, Addr: addr}) {
			return nil, fmt.Errorf("tunnelproto: replica %q is not id=host:port", p)
		}
		if seen[id] {
			return nil, fmt.Errorf("tunnelproto: replica %s listed twice", id)
		}
		seen[id] = true
		out = append(out, Replica{ID: id, Addr: addr})
	}
	return out, nil
}

// ValidReplica reports whether a replica's id is 1-64 letters, digits or
// '-' and its address a host:port with a port in 1-65535.
func ValidReplica(r Replica) bool {
	if r.ID == "" || len(r.ID) > 64 {
		return false
	}
	for _, c := range r.ID {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	host, port, err := net.SplitHostPort(r.Addr)
	if err != nil || host == "" || strings.ContainsAny(host, " ,=/") {
		return false
	}
	n, err := strconv.Atoi(port)
	return err == nil && n > 0 && n < 65536
}

// FrameType is the first byte of a frame header.
type FrameType byte

// Frame types.
const (
	FrameDial       FrameType = 1 // server → agent, JSON DialRequest, first frame
	FrameDialResult FrameType = 2 // agent → server, JSON DialResult, first frame
	FrameData       FrameType = 3 // bytes of the tunnel
	FrameEOF        FrameType = 4 // the sender's byte stream ended (half-close)
	FrameEnd        FrameType = 5 // JSON EndReason: the tunnel ends now
)

func (t FrameType) String() string {
	switch t {
	case FrameDial:
		return "Dial"
	case FrameDialResult:
		return "DialResult"
	case FrameData:
		return "Data"
	case FrameEOF:
		return "EOF"
	case FrameEnd:
		return "End"
	}
	return fmt.Sprintf("FrameType(%d)", byte(t))
}

// HeaderLen is the size of a frame header.
const HeaderLen = 4

// MaxPayload bounds a frame's payload (the 3-byte length could say 16 MiB).
// Data frames carry at most one copy buffer (64 KiB); JSON frames are
// small.
const MaxPayload = 1 << 20

// maxJSON bounds the JSON frames (Dial, DialResult, End).
const maxJSON = 16 << 10

// ErrFrame is wrapped by every error about a malformed frame.
var ErrFrame = errors.New("tunnelproto: malformed frame")

// PutHeader writes a frame header for a payload of n bytes into b[:4].
func PutHeader(b []byte, t FrameType, n int) {
	_ = b[3]
	b[0] = byte(t)
	b[1] = byte(n >> 16)
	b[2] = byte(n >> 8)
	b[3] = byte(n)
}

// ParseHeader decodes a frame header, checking the type and the length.
func ParseHeader(h [HeaderLen]byte) (FrameType, int, error) {
	t := FrameType(h[0])
	n := int(h[1])<<16 | int(h[2])<<8 | int(h[3])
	if t < FrameDial || t > FrameEnd {
		return 0, 0, fmt.Errorf("%w: unknown type %d", ErrFrame, h[0])
	}
	if n > MaxPayload {
		return 0, 0, fmt.Errorf("%w: %s payload of %d bytes exceeds %d", ErrFrame, t, n, MaxPayload)
	}
	if t == FrameEOF && n != 0 {
		return 0, 0, fmt.Errorf("%w: EOF frame with a %d-byte payload", ErrFrame, n)
	}
	if (t == FrameDial || t == FrameDialResult || t == FrameEnd) && n > maxJSON {
		return 0, 0, fmt.Errorf("%w: %s payload of %d bytes exceeds %d", ErrFrame, t, n, maxJSON)
	}
	return t, n, nil
}

// ReadHeader reads and decodes one frame header from r. A clean end of r
// before the header is io.EOF; a partial header is io.ErrUnexpectedEOF.
func ReadHeader(r io.Reader, scratch *[HeaderLen]byte) (FrameType, int, error) {
	if _, err := io.ReadFull(r, scratch[:]); err != nil {
		return 0, 0, err
	}
	return ParseHeader(*scratch)
}

// WriteFrame writes a small frame (header and payload in one Write).
func WriteFrame(w io.Writer, t FrameType, payload []byte) error {
	if len(payload) > MaxPayload {
		return fmt.Errorf("%w: payload of %d bytes exceeds %d", ErrFrame, len(payload), MaxPayload)
	}
	b := make([]byte, HeaderLen+len(payload))
	PutHeader(b, t, len(payload))
	copy(b[HeaderLen:], payload)
	_, err := w.Write(b)
	return err
}

// WriteJSON writes a frame whose payload is v as JSON.
func WriteJSON(w io.Writer, t FrameType, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("tunnelproto: encode %s: %w", t, err)
	}
	return WriteFrame(w, t, b)
}

// ReadJSON reads one frame from r, which must be of type want, and decodes
// its JSON payload into v.
func ReadJSON(r io.Reader, want FrameType, v any) error {
	var h [HeaderLen]byte
	t, n, err := ReadHeader(r, &h)
	if err != nil {
		return err
	}
	if t != want {
		return fmt.Errorf("%w: got a %s frame, want %s", ErrFrame, t, want)
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(r, b); err != nil {
		return fmt.Errorf("tunnelproto: read %s payload: %w", t, noEOF(err))
	}
	return DecodeJSON(t, b, v)
}

// DecodeJSON decodes a JSON frame payload, rejecting trailing data.
func DecodeJSON(t FrameType, b []byte, v any) error {
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("%w: %s payload: %v", ErrFrame, t, err)
	}
	return nil
}

func noEOF(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// MaxDialTimeoutMillis bounds DialRequest.TimeoutMillis: two minutes,
// well above the 10 s the front door asks for.
const MaxDialTimeoutMillis = 120_000

// DialRequest asks the agent to connect a tunnel to a target.
type DialRequest struct {
	TunnelID string `json:"tunnelId"`
	Address  string `json:"address"` // an IP address, IPv4 or IPv6
	Port     int    `json:"port"`
	// TimeoutMillis bounds the agent's connection attempt: 1 to
	// MaxDialTimeoutMillis, or 0 (absent) for the agent's own timeout.
	TimeoutMillis int64 `json:"timeoutMillis,omitempty"`
	// Client is the client's address and port as the front door saw them
	// ("192.0.2.7:50312"); needed by PreserveClientIP and ProxyProtocol.
	Client string `json:"client,omitempty"`
	// PreserveClientIP asks the agent to connect from Client's address
	// (IP_TRANSPARENT). Only agents that announced
	// FeaturePreserveClientIP are sent it: an older agent ignores the
	// field and would connect from its own address.
	PreserveClientIP bool `json:"preserveClientIp,omitempty"`
	// ProxyProtocol, when ProxyV2, asks the agent to write a PROXY
	// protocol v2 header (Client → the target) before the first byte
	// (agents with FeatureProxyV2 only).
	ProxyProtocol string `json:"proxyProtocol,omitempty"`
}

// ProxyV2 is DialRequest.ProxyProtocol's only value.
const ProxyV2 = "v2"

// ClientAddrPort parses Client.
func (d DialRequest) ClientAddrPort() (netip.AddrPort, error) {
	ap, err := netip.ParseAddrPort(d.Client)
	if err != nil || len(d.Client) > 64 || ap.Addr().Zone() != "" || ap.Port() == 0 {
		return netip.AddrPort{}, fmt.Errorf("%w: dial request client %q is not an address:port", ErrFrame, d.Client)
	}
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()), nil
}

// Validate checks the request's form (not the agent's policy).
func (d DialRequest) Validate() error {
	if d.TunnelID == "" || len(d.TunnelID) > 64 {
		return fmt.Errorf("%w: dial request needs a tunnel id of at most 64 bytes", ErrFrame)
	}
	if d.Port < 1 || d.Port > 65535 {
		return fmt.Errorf("%w: dial request port %d out of range", ErrFrame, d.Port)
	}
	if d.Address == "" || len(d.Address) > 64 {
		return fmt.Errorf("%w: dial request needs an address", ErrFrame)
	}
	if d.TimeoutMillis < 0 || d.TimeoutMillis > MaxDialTimeoutMillis {
		return fmt.Errorf("%w: dial timeout %d ms out of range (1 to %d, or absent)", ErrFrame, d.TimeoutMillis, MaxDialTimeoutMillis)
	}
	if d.ProxyProtocol != "" && d.ProxyProtocol != ProxyV2 {
		return fmt.Errorf("%w: dial request proxy protocol %.16q: want %q or absent", ErrFrame, d.ProxyProtocol, ProxyV2)
	}
	if d.Client != "" || d.PreserveClientIP || d.ProxyProtocol != "" {
		if _, err := d.ClientAddrPort(); err != nil {
			return err
		}
	}
	return nil
}

// DialResult answers a DialRequest.
type DialResult struct {
	OK      bool   `json:"ok"`
	Code    string `json:"code,omitempty"` // one of the Code… constants when not OK
	Message string `json:"message,omitempty"`
}

// EndReason says why a tunnel ended abnormally.
type EndReason struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// Error lets an EndReason travel as an error.
func (e *EndReason) Error() string { return e.Message }

// Codes of failed dials and abnormal ends.
const (
	// Dial failures, reported by the agent.
	CodeRefused     = "ConnectionRefused"     // the target refused the connection
	CodeUnreachable = "TargetUnreachable"     // no route, host down
	CodeTimeout     = "ConnectTimeout"        // the attempt timed out
	CodeNotAllowed  = "DestinationNotAllowed" // the agent's egress policy refused
	CodeDraining    = "AgentDraining"         // the agent is shutting down
	CodeBadRequest  = "BadRequest"            // malformed dial request
	// CodePreserveUnavailable: the endpoint preserves client addresses
	// and no agent can (or this one cannot for this client).
	CodePreserveUnavailable = "ClientIpPreservationUnavailable"
	// CodeProxyUnavailable: the endpoint sends PROXY protocol headers and
	// no agent can.
	CodeProxyUnavailable = "ProxyProtocolUnavailable"
	// CodeProxyHeaderFailed: the agent connected the target but could not
	// write the PROXY protocol header to it (the target reset or closed
	// the connection at once): a failed dial, which no byte of the
	// tunnel followed. Agents before it sent CodeTargetError, an end's
	// code, for this.
	CodeProxyHeaderFailed = "ProxyHeaderFailed"
	// Ends.
	CodeTargetReset   = "TargetReset"   // the target reset the connection
	CodeTargetError   = "TargetError"   // another I/O error on the target side
	CodeAgentShutdown = "AgentShutdown" // the agent stopped (drain timeout)
	CodeAgentLost     = "AgentLost"     // the server lost the agent's link
	CodeMaxDuration   = "MaxDuration"   // maxTunnelDuration passed
	CodeRevoked       = "Revoked"       // access was revoked
	CodeServerStop    = "ServerShutdown"
	CodeInternal      = "InternalError"
)

// JoinTokenPrefix starts every join token.
const JoinTokenPrefix = "PJT1."

// JoinToken is what an operator hands to a new agent: where the server is,
// the fingerprint of the CA its certificate chains to (so the agent trusts
// nothing else on first contact), the endpoint and a secret. It is a
// single string: JoinTokenPrefix + base64url(JSON).
type JoinToken struct {
	Server     string `json:"s"` // host:port of the server's TLS listener
	CAPin      string `json:"c"` // hex SHA-256 of the CA certificate (DER)
	EndpointID string `json:"e"`
	Secret     string `json:"t"`
}

// Encode returns the token's text form.
func (t JoinToken) Encode() string {
	b, _ := json.Marshal(t)
	return JoinTokenPrefix + base64.RawURLEncoding.EncodeToString(b)
}

// ParseJoinToken decodes a token's text form and checks its fields.
func ParseJoinToken(s string) (JoinToken, error) {
	var t JoinToken
	s = strings.TrimSpace(s)
	if !strings.HasPrefix(s, JoinTokenPrefix) {
		return t, errors.New("not a Postern join token (it must start with " + JoinTokenPrefix + ")")
	}
	if len(s) > 4096 {
		return t, errors.New("join token too long")
	}
	b, err := base64.RawURLEncoding.DecodeString(s[len(JoinTokenPrefix):])
	if err != nil {
		return t, fmt.Errorf("join token: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&t); err != nil {
		return t, fmt.Errorf("join token: %w", err)
	}
	host, port, err := net.SplitHostPort(t.Server)
	if err != nil || host == "" || port == "" {
		return t, fmt.Errorf("join token: server %q is not host:port", t.Server)
	}
	if p, err := hex.DecodeString(t.CAPin); err != nil || len(p) != 32 {
		return t, errors.New("join token: CA pin is not a hex SHA-256")
	}
	if !strings.HasPrefix(t.EndpointID, "eice-") {
		return t, fmt.Errorf("join token: endpoint %q is not an eice- id", t.EndpointID)
	}
	if len(t.Secret) < 20 {
		return t, errors.New("join token: secret too short")
	}
	// Its own text form must fit too: JSON decoding replaces invalid UTF-8
	// with U+FFFD and Encode escapes <, > and &, so a token near the limit
	// could parse into one whose Encode is longer than any parse accepts.
	if len(t.Encode()) > 4096 {
		return JoinToken{}, errors.New("join token too long")
	}
	return t, nil
}
