// Package config holds the server's settings: a versioned YAML file with
// strict decoding (unknown keys are errors), defaults, and validation.
// Command-line flags override the file.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"regexp"
	"strings"
	"sync"
	"time"

	"go.yaml.in/yaml/v3"
)

// Version is the only config file version this build reads.
const Version = 1

// Server is the server configuration (config file version 1).
type Server struct {
	Version int `yaml:"version"`
	// Listen is where the TLS listener for the API and tunnels listens:
	// one HOST:PORT or several (a YAML list, or one string of
	// comma-separated addresses), e.g. ["10.0.0.5:443", "[fd00::5]:443"]
	// instead of [::]:443 on every interface. The first is the main one
	// (its port is the advertised default).
	Listen Addrs `yaml:"listen"`
	// DataDir holds the database, keys, certificates and client files.
	DataDir string `yaml:"data_dir"`
	// PublicHost is the host name clients use to reach the server; it is
	// the dnsName of endpoints and the first name on the certificate.
	PublicHost string `yaml:"public_host"`
	// AccountID is the installation's account id; generated on first
	// start when empty, and may not change afterwards.
	AccountID string `yaml:"account_id"`
	// Region is the region name clients sign for.
	Region string `yaml:"region"`
	// AdminUser is the bootstrap administrator's user name.
	AdminUser string `yaml:"admin_user"`
	// Database is the store: empty for SQLite in DataDir.
	Database string `yaml:"database"`
	// LogLevel is debug, info, warn or error.
	LogLevel string `yaml:"log_level"`
	// Advertise is the HOST:PORT clients and agents reach the server at
	// (behind a load balancer or NAT, its address there). Default:
	// public_host with the listener's port. Endpoints' dnsName is its host,
	// with the port unless it is 443 (the AWS CLI always dials 443).
	Advertise string `yaml:"advertise"`
	// ReplicaAddress is the HOST:PORT where agents reach this replica
	// itself, when several replicas share a PostgreSQL database behind
	// one advertised address (a load balancer). Default: advertise.
	ReplicaAddress string `yaml:"replica_address"`
	// MetricsListen, when set, serves Prometheus metrics at /metrics on
	// this HOST:PORT (TLS, the server's certificate), apart from the API.
	MetricsListen string  `yaml:"metrics_listen"`
	TLS           TLS     `yaml:"tls"`
	EC2           EC2     `yaml:"ec2"`
	Tunnel        Tunnel  `yaml:"tunnel"`
	Agent         Agent   `yaml:"agent"`
	SSH           SSH     `yaml:"ssh"`
	Audit         Audit   `yaml:"audit"`
	HTTP          HTTP    `yaml:"http"`
	Console       Console `yaml:"console"`
	// TunnelClock, when set, is the tunnel front door's clock (tests that
	// let time pass; never in the file).
	TunnelClock func() time.Time `yaml:"-"`
	// ReplicaHeartbeat is how often a replica on PostgreSQL announces
	// itself and reads the others (default 5 s; tests shorten it).
	ReplicaHeartbeat time.Duration `yaml:"-"`
}

// Audit configures the copies of the audit trail beside the store.
type Audit struct {
	// File is a JSON Lines copy (one CloudTrail record per line), relative
	// to data_dir unless absolute; "none" disables it. Default audit.jsonl.
	File string `yaml:"file"`
	// FileMaxMB rotates the file at this size (default 100); FileKeep
	// rotated files are kept (default 10).
	FileMaxMB int `yaml:"file_max_mb"`
	FileKeep  int `yaml:"file_keep"`
	// WebhookURL, when set, receives every batch of records as JSON Lines
	// (POST, application/x-ndjson), in the background.
	WebhookURL string `yaml:"webhook_url"`
	// Syslog, when set, sends every record to syslog: "local", or
	// "udp://host:514" / "tcp://host:514".
	Syslog string `yaml:"syslog"`
}

// HTTP bounds what a client may hold on the listener (API, tunnels and
// agent links) before or between requests. Open tunnels and agent links
// are not bound by these timeouts once upgraded.
type HTTP struct {
	// HeaderTimeoutSeconds bounds the TLS handshake, and then each
	// request's line and headers (default 10).
	HeaderTimeoutSeconds int `yaml:"header_timeout_seconds"`
	// BodyTimeoutSeconds bounds reading a request's body, from the end
	// of its headers (default 30).
	BodyTimeoutSeconds int `yaml:"body_timeout_seconds"`
	// IdleTimeoutSeconds is how long a kept-alive connection may wait
	// for its next request (default 120).
	IdleTimeoutSeconds int `yaml:"idle_timeout_seconds"`
	// WriteTimeoutSeconds bounds each response, from the start of its
	// handling to its last byte written: a client that does not read
	// what it asked for loses the connection then (default 60).
	WriteTimeoutSeconds int `yaml:"write_timeout_seconds"`
	// MaxUnauthenticatedPerSource caps the connections one source
	// address (an IPv6 /64) may hold that have not yet made an
	// authenticated request; more are closed as soon as they are
	// accepted (default 128; -1 means unlimited, for a server behind a
	// proxy that hides the clients' addresses).
	MaxUnauthenticatedPerSource int `yaml:"max_unauthenticated_per_source"`
}

// Console configures the web console served on the listener at /console/.
type Console struct {
	// Enabled serves the console (default true).
	Enabled *bool `yaml:"enabled"`
	// SessionDurationSeconds is how long a console sign-in lasts (default
	// 43200, AWS's 12 hours; at least 900).
	SessionDurationSeconds int `yaml:"session_duration_seconds"`
	// SignInAttempts is how many failed sign-ins one user name or one
	// source address may make in SignInWindowSeconds before further
	// attempts are refused until the window passes (default 5 in 900).
	SignInAttempts      int `yaml:"sign_in_attempts"`
	SignInWindowSeconds int `yaml:"sign_in_window_seconds"`
	// RecordSessions records every browser terminal session (asciicast
	// v2) beside the audit trail (default false).
	RecordSessions bool `yaml:"record_sessions"`
	// RecordInput also records what the person typed (default false:
	// passwords typed at prompts stay out of recordings).
	RecordInput bool `yaml:"record_input"`
	// RecordingsDir holds the recordings, relative to data_dir unless
	// absolute (default "recordings").
	RecordingsDir string `yaml:"recordings_dir"`
	// RecordingRetentionDays deletes recordings older than this (default
	// 90; 0 keeps them forever).
	RecordingRetentionDays int `yaml:"recording_retention_days"`
	// RecordingMaxMB caps one recording; output past it is not recorded
	// and the recording says so (default 100).
	RecordingMaxMB int `yaml:"recording_max_mb"`
	// IdentityProviders are the OpenID Connect providers the sign-in
	// page offers ("Sign in with <name>"); see IdentityProvider.
	IdentityProviders []IdentityProvider `yaml:"identity_providers"`
}

// ConsoleEnabled reports whether the console is served.
func (c *Server) ConsoleEnabled() bool { return c.Console.Enabled == nil || *c.Console.Enabled }

// SSH configures keyless SSH (SendSSHPublicKey).
type SSH struct {
	// KeyTTLSeconds is how long a pushed key stays valid (default and
	// AWS: 60).
	KeyTTLSeconds int `yaml:"key_ttl_seconds"`
}

// Tunnel configures the openTunnel front door.
type Tunnel struct {
	// Ports are the remote ports tunnels may reach: "22", "8000-8999",
	// or "*". Default 22 and 3389, as AWS.
	Ports []string `yaml:"ports"`
	// MaxDurationSeconds is the longest maxTunnelDuration a request may
	// ask for (default and AWS's maximum: 3600; at most a week).
	MaxDurationSeconds int `yaml:"max_duration_seconds"`
	// MaxURLLifetimeSeconds caps how long a presigned openTunnel URL is
	// good for: a longer X-Amz-Expires is refused, and a URL without one
	// (the AWS SDKs' form) expires this long after its X-Amz-Date. Default
	// 300; at least 60 (the AWS CLI signs 60 s), at most 3600.
	MaxURLLifetimeSeconds int `yaml:"max_url_lifetime_seconds"`
	// ConcurrencyPerEndpoint limits open tunnels per endpoint (default
	// 10000; AWS's is 20).
	ConcurrencyPerEndpoint int `yaml:"concurrency_per_endpoint"`
	// Replay is how presigned URLs may be reused within their 60 s:
	// "source-ip" (default: only from the address that used them first)
	// or "single-use".
	Replay string `yaml:"replay"`
	// JoinTokenTTLSeconds is the default lifetime of agent join tokens
	// (default 900).
	JoinTokenTTLSeconds int `yaml:"join_token_ttl_seconds"`
	// EndOnSessionExpiry closes a tunnel when the role session that opened
	// it expires (default false: as AWS, a tunnel runs to its maximum
	// duration whatever happens to the credentials' expiry).
	EndOnSessionExpiry bool `yaml:"end_on_session_expiry"`
	// CloseGraceSeconds is how long a tunnel that one side has ended may
	// go on: the client's answer to the server's close frame, and what is
	// still in flight the other way, are waited for this long before the
	// connection is closed (default 5; from 1 to 10). Bounded, because
	// each tunnel in its grace holds a connection and its buffers, and
	// because tunnels ended by a shutdown get this grace too: the server
	// gives a shutdown the grace and 10 s more, which must stay under a
	// service manager's stop timeout (the systemd unit's 60 s).
	CloseGraceSeconds int `yaml:"close_grace_seconds"`
}

// Agent configures the endpoint agent embedded in the server.
type Agent struct {
	// Embedded makes the server serve, from its own process, a local
	// network holding this machine (VPC 127.0.0.0/8, the machine as an
	// instance at 127.0.0.1, an endpoint). Default true: the one-machine
	// run. Turn it off when the server is not inside the network it
	// serves.
	Embedded *bool `yaml:"embedded"`
}

// EmbeddedAgent reports whether the embedded agent is on.
func (c *Server) EmbeddedAgent() bool { return c.Agent.Embedded == nil || *c.Agent.Embedded }

// EC2 configures the EC2 side: quotas on Instance Connect Endpoints, and
// where VPCs' IPv6 blocks come from.
type EC2 struct {
	// EndpointsPerVPC and EndpointsPerSubnet default to 1, as AWS;
	// -1 means unlimited.
	EndpointsPerVPC    int `yaml:"endpoints_per_vpc"`
	EndpointsPerSubnet int `yaml:"endpoints_per_subnet"`
	// IPv6Pool is the IPv6 prefix (a /56 or shorter) from which
	// AmazonProvidedIpv6CidrBlock gives each VPC a free /56. Default
	// fd00::/8: a random unique local (RFC 4193) /56 per VPC. An
	// operator who routes a ULA /48 of their own sets it, e.g.
	// fd12:3456:789a::/48 (256 VPCs).
	IPv6Pool string `yaml:"ipv6_pool"`
}

// IPv6PoolPrefix returns the parsed ec2.ipv6_pool (the zero Prefix when
// it is empty: the EC2 service's default).
func (e EC2) IPv6PoolPrefix() (netip.Prefix, error) {
	if e.IPv6Pool == "" {
		return netip.Prefix{}, nil
	}
	p, err := netip.ParsePrefix(e.IPv6Pool)
	switch {
	case err != nil:
		return netip.Prefix{}, fmt.Errorf("ec2.ipv6_pool %q is not a CIDR block", e.IPv6Pool)
	case !p.Addr().Is6() || p.Addr().Is4In6() || p.Addr().Zone() != "":
		return netip.Prefix{}, fmt.Errorf("ec2.ipv6_pool %q is not an IPv6 prefix", e.IPv6Pool)
	case p.Masked() != p:
		return netip.Prefix{}, fmt.Errorf("ec2.ipv6_pool %q has host bits set (did you mean %s?)", e.IPv6Pool, p.Masked())
	case p.Bits() > 56:
		return netip.Prefix{}, fmt.Errorf("ec2.ipv6_pool %q is smaller than a /56, the block each VPC gets", e.IPv6Pool)
	}
	return p, nil
}

// Addrs is a list of HOST:PORT addresses. In YAML it is one string (which
// may hold several addresses separated by commas) or a list of strings.
type Addrs []string

// ParseAddrs splits a comma-separated list of addresses (the --listen
// flag's form), dropping blanks around them.
func ParseAddrs(s string) Addrs {
	var out Addrs
	for _, a := range strings.Split(s, ",") {
		if a = strings.TrimSpace(a); a != "" {
			out = append(out, a)
		}
	}
	return out
}

// String joins the addresses with commas.
func (a Addrs) String() string { return strings.Join(a, ",") }

// First returns the first address ("" when there is none).
func (a Addrs) First() string {
	if len(a) == 0 {
		return ""
	}
	return a[0]
}

// UnmarshalYAML accepts a string or a list of strings.
func (a *Addrs) UnmarshalYAML(n *yaml.Node) error {
	switch n.Kind {
	case yaml.ScalarNode:
		var s string
		if err := n.Decode(&s); err != nil {
			return err
		}
		*a = ParseAddrs(s)
		return nil
	case yaml.SequenceNode:
		var list []string
		if err := n.Decode(&list); err != nil {
			return err
		}
		var out Addrs
		for _, s := range list {
			out = append(out, ParseAddrs(s)...)
		}
		*a = out
		return nil
	}
	return fmt.Errorf("line %d: want HOST:PORT or a list of them", n.Line)
}

// TLS configures the server certificate.
type TLS struct {
	// CertFile and KeyFile, when both set, are used instead of the
	// certificate Postern makes from its own CA.
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
	// CAFile is what clients must trust when CertFile is the operator's;
	// it is copied to DataDir/ca.pem for the client config.
	CAFile string `yaml:"ca_file"`
	// SANs are the names and addresses on the self-made certificate.
	SANs []string `yaml:"sans"`
}

// Default returns the built-in defaults.
func Default() Server {
	return Server{
		Version:    Version,
		Listen:     Addrs{"127.0.0.1:8443"},
		DataDir:    "postern-data",
		PublicHost: "localhost",
		Region:     "us-east-1",
		AdminUser:  "admin",
		LogLevel:   "info",
		TLS:        TLS{SANs: []string{"localhost", "127.0.0.1", "::1"}},
		EC2:        EC2{EndpointsPerVPC: 1, EndpointsPerSubnet: 1},
		Tunnel: Tunnel{Ports: []string{"22", "3389"}, MaxDurationSeconds: 3600, MaxURLLifetimeSeconds: 300, ConcurrencyPerEndpoint: 10000,
			Replay: "source-ip", JoinTokenTTLSeconds: 900, CloseGraceSeconds: 5},
		SSH:   SSH{KeyTTLSeconds: 60},
		Audit: Audit{File: "audit.jsonl", FileMaxMB: 100, FileKeep: 10},
		HTTP:  HTTP{HeaderTimeoutSeconds: 10, BodyTimeoutSeconds: 30, IdleTimeoutSeconds: 120, WriteTimeoutSeconds: 60, MaxUnauthenticatedPerSource: 128},
		Console: Console{SessionDurationSeconds: 43200, SignInAttempts: 5, SignInWindowSeconds: 900,
			RecordingsDir: "recordings", RecordingRetentionDays: 90, RecordingMaxMB: 100},
	}
}

// Load reads a config file over the defaults. Unknown keys are errors.
func Load(path string) (Server, error) {
	cfg := Default()
	data, err := os.ReadFile(path)
	if err != nil {
		return cfg, fmt.Errorf("config: %w", err)
	}
	if err := Decode(bytes.NewReader(data), &cfg); err != nil {
		return cfg, fmt.Errorf("config: %s: %w", path, err)
	}
	return cfg, nil
}

// Decode strictly decodes YAML from r into cfg, keeping cfg's values for
// keys the document does not set.
func Decode(r io.Reader, cfg *Server) error {
	dec := yaml.NewDecoder(r)
	dec.KnownFields(true)
	if err := dec.Decode(cfg); err != nil && !errors.Is(err, io.EOF) {
		return err
	}
	return nil
}

// accountRe and regionRe are compiled on first use: every postern process
// links this package, most never validate a server configuration.
var (
	accountRe = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[0-9]{12}$`) })
	regionRe  = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[a-z]{2}(-[a-z]+)+-[0-9]+$`) })
)

// Validate checks the configuration and says what is wrong.
func (c *Server) Validate() error {
	var errs []error
	if c.Version != Version {
		errs = append(errs, fmt.Errorf("version is %d, this build reads version %d", c.Version, Version))
	}
	if len(c.Listen) == 0 {
		errs = append(errs, errors.New("listen is empty"))
	}
	seen := map[string]bool{}
	for _, l := range c.Listen {
		if _, _, err := net.SplitHostPort(l); err != nil {
			errs = append(errs, fmt.Errorf("listen %q is not HOST:PORT", l))
		}
		if seen[l] {
			errs = append(errs, fmt.Errorf("listen %q is given twice", l))
		}
		seen[l] = true
	}
	if _, err := c.EC2.IPv6PoolPrefix(); err != nil {
		errs = append(errs, err)
	}
	if c.DataDir == "" {
		errs = append(errs, errors.New("data_dir is empty"))
	}
	if c.PublicHost == "" {
		errs = append(errs, errors.New("public_host is empty"))
	}
	if strings.HasPrefix(c.PublicHost, "[") {
		errs = append(errs, fmt.Errorf("public_host %q: write an IPv6 address without brackets (e.g. public_host: 'fd00::5')", c.PublicHost))
	}
	if c.AccountID != "" && !accountRe().MatchString(c.AccountID) {
		errs = append(errs, fmt.Errorf("account_id %q is not 12 digits", c.AccountID))
	}
	if !regionRe().MatchString(c.Region) {
		errs = append(errs, fmt.Errorf("region %q is not a region name such as us-east-1", c.Region))
	}
	if c.AdminUser == "" {
		errs = append(errs, errors.New("admin_user is empty"))
	}
	if (c.TLS.CertFile == "") != (c.TLS.KeyFile == "") {
		errs = append(errs, errors.New("tls.cert_file and tls.key_file go together"))
	}
	for name, v := range map[string]int{"ec2.endpoints_per_vpc": c.EC2.EndpointsPerVPC, "ec2.endpoints_per_subnet": c.EC2.EndpointsPerSubnet} {
		if v < -1 || v == 0 {
			errs = append(errs, fmt.Errorf("%s must be a positive number, or -1 for unlimited", name))
		}
	}
	if c.Advertise != "" {
		if _, _, err := net.SplitHostPort(c.Advertise); err != nil {
			errs = append(errs, fmt.Errorf("advertise %q is not HOST:PORT", c.Advertise))
		}
	}
	if c.ReplicaAddress != "" {
		if _, _, err := net.SplitHostPort(c.ReplicaAddress); err != nil {
			errs = append(errs, fmt.Errorf("replica_address %q is not HOST:PORT", c.ReplicaAddress))
		}
	}
	if c.MetricsListen != "" {
		if _, _, err := net.SplitHostPort(c.MetricsListen); err != nil {
			errs = append(errs, fmt.Errorf("metrics_listen %q is not HOST:PORT", c.MetricsListen))
		}
	}
	if len(c.Tunnel.Ports) == 0 {
		errs = append(errs, errors.New("tunnel.ports is empty: no tunnel could open"))
	}
	if c.Tunnel.MaxDurationSeconds < 1 || c.Tunnel.MaxDurationSeconds > 604800 {
		errs = append(errs, errors.New("tunnel.max_duration_seconds must be from 1 to 604800 (a week)"))
	}
	if c.Tunnel.MaxURLLifetimeSeconds < 60 || c.Tunnel.MaxURLLifetimeSeconds > 3600 {
		errs = append(errs, errors.New("tunnel.max_url_lifetime_seconds must be from 60 (the AWS CLI signs 60 s) to 3600"))
	}
	if c.Tunnel.ConcurrencyPerEndpoint < 1 {
		errs = append(errs, errors.New("tunnel.concurrency_per_endpoint must be at least 1"))
	}
	if c.Tunnel.Replay != "source-ip" && c.Tunnel.Replay != "single-use" {
		errs = append(errs, fmt.Errorf("tunnel.replay %q is not source-ip or single-use", c.Tunnel.Replay))
	}
	if c.Tunnel.JoinTokenTTLSeconds < 60 || c.Tunnel.JoinTokenTTLSeconds > 86400 {
		errs = append(errs, errors.New("tunnel.join_token_ttl_seconds must be from 60 to 86400"))
	}
	if c.Tunnel.CloseGraceSeconds < 1 || c.Tunnel.CloseGraceSeconds > 10 {
		errs = append(errs, errors.New("tunnel.close_grace_seconds must be from 1 to 10"))
	}
	if c.Audit.FileMaxMB < 1 || c.Audit.FileKeep < 0 {
		errs = append(errs, errors.New("audit.file_max_mb must be at least 1 and audit.file_keep at least 0"))
	}
	if c.Console.SessionDurationSeconds < 900 || c.Console.SessionDurationSeconds > 129600 {
		errs = append(errs, errors.New("console.session_duration_seconds must be from 900 to 129600 (36 hours, AWS's longest)"))
	}
	if c.Console.SignInAttempts < 1 || c.Console.SignInWindowSeconds < 1 {
		errs = append(errs, errors.New("console.sign_in_attempts and console.sign_in_window_seconds must be at least 1"))
	}
	if c.Console.RecordingsDir == "" || c.Console.RecordingRetentionDays < 0 || c.Console.RecordingMaxMB < 1 {
		errs = append(errs, errors.New("console.recordings_dir must be set, console.recording_retention_days at least 0 and console.recording_max_mb at least 1"))
	}
	errs = append(errs, validateIdentityProviders(c.Console.IdentityProviders)...)
	if c.SSH.KeyTTLSeconds < 1 || c.SSH.KeyTTLSeconds > 3600 {
		errs = append(errs, errors.New("ssh.key_ttl_seconds must be from 1 to 3600"))
	}
	for name, v := range map[string]int{"http.header_timeout_seconds": c.HTTP.HeaderTimeoutSeconds,
		"http.body_timeout_seconds": c.HTTP.BodyTimeoutSeconds, "http.idle_timeout_seconds": c.HTTP.IdleTimeoutSeconds,
		"http.write_timeout_seconds": c.HTTP.WriteTimeoutSeconds} {
		if v < 1 || v > 3600 {
			errs = append(errs, fmt.Errorf("%s must be from 1 to 3600", name))
		}
	}
	if v := c.HTTP.MaxUnauthenticatedPerSource; v < -1 || v == 0 {
		errs = append(errs, errors.New("http.max_unauthenticated_per_source must be a positive number, or -1 for unlimited"))
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		errs = append(errs, fmt.Errorf("log_level %q is not debug, info, warn or error", c.LogLevel))
	}
	return errors.Join(errs...)
}
