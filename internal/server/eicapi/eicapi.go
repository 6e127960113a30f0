// Package eicapi is the EC2 Instance Connect API (JSON 1.1, target prefix
// AWSEC2InstanceConnectService, SigV4 service ec2-instance-connect):
// SendSSHPublicKey pushes an SSH public key that the instance accepts for
// one OS user for a short time (60 s by default, as AWS), signed by the
// server for the instance helper (package sshkeys). Validation and errors
// follow docs/aws-compat.md §3.1; every push, refused or not, is audited.
package eicapi

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"golang.org/x/crypto/ssh"

	"github.com/postern/postern/internal/server/api"
	"github.com/postern/postern/internal/server/audit"
	"github.com/postern/postern/internal/server/metrics"
	"github.com/postern/postern/internal/server/policy"
	"github.com/postern/postern/internal/store"
	"github.com/postern/postern/internal/wire/awsproto"
	"github.com/postern/postern/internal/wire/sshkeys"
)

// Service identity.
const (
	SigningName = "ec2-instance-connect"
	APIVersion  = "2018-04-02"
	// DefaultKeyTTL is how long a pushed key stays valid (AWS: 60 s).
	DefaultKeyTTL = 60 * time.Second
	// ActionSendSSHPublicKey is the IAM action.
	ActionSendSSHPublicKey = "ec2-instance-connect:SendSSHPublicKey"
)

// Config configures the service.
type Config struct {
	Store             store.Store
	AccountID, Region string
	// Signer signs pushed keys for the instance helper.
	Signer ed25519.PrivateKey
	// KeyTTL is a pushed key's lifetime; default DefaultKeyTTL.
	KeyTTL time.Duration
	// Tunnels, when set, serves ListTunnels and TerminateTunnel.
	Tunnels Tunnels
	// Audit records pushes; default a Writer of its own on Store.
	Audit *audit.Writer
	// Metrics, when set, counts pushed keys.
	Metrics *metrics.Metrics
	Now     func() time.Time
}

type service struct {
	cfg   Config
	audit *audit.Writer
}

// New returns the service for the API dispatcher.
func New(cfg Config) (*api.Service, error) {
	if cfg.Store == nil || cfg.AccountID == "" || cfg.Region == "" || len(cfg.Signer) != ed25519.PrivateKeySize {
		return nil, errors.New("eicapi: Config needs Store, AccountID, Region and Signer")
	}
	if cfg.KeyTTL <= 0 {
		cfg.KeyTTL = DefaultKeyTTL
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Audit == nil {
		cfg.Audit = audit.NewWriter(cfg.Store, nil)
	}
	s := &service{cfg: cfg, audit: cfg.Audit}
	return &api.Service{
		SigningName: SigningName,
		Protocol:    api.ProtocolJSON,
		Version:     APIVersion,
		SelfAudited: map[string]bool{"SendSSHPublicKey": true},
		Actions: map[string]api.ActionFunc{
			"SendSSHPublicKey": s.sendSSHPublicKey,
			"ListTunnels":      s.listTunnels,
			"TerminateTunnel":  s.terminateTunnel,
		},
	}, nil
}

type sendRequest struct {
	InstanceID       string `json:"InstanceId"`
	InstanceOSUser   string `json:"InstanceOSUser"`
	SSHPublicKey     string `json:"SSHPublicKey"`
	AvailabilityZone string `json:"AvailabilityZone"`
}

type sendResult struct {
	RequestID string `json:"RequestId"`
	Success   bool   `json:"Success"`
}

// The patterns are compiled on first use, not when the package is
// initialised: every postern process links this package, and osUserRe's
// {0,30} alone made every client's start pay for a large program.
var (
	instanceIDRe = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^i-[a-f0-9]+$`) })
	// osUserRe is the model's Linux user name pattern.
	osUserRe = sync.OnceValue(func() *regexp.Regexp {
		return regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9@._-]{0,30}[A-Za-z0-9$_-]?$`)
	})
	azRe = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^(\w+-){2,3}\d+\w+$`) })
)

// allowedKeyTypes are the key types accepted (the AWS CLI sends ed25519;
// EC2 key pairs are RSA or ED25519; ECDSA is common in practice).
var allowedKeyTypes = map[string]bool{
	ssh.KeyAlgoED25519: true, ssh.KeyAlgoRSA: true,
	ssh.KeyAlgoECDSA256: true, ssh.KeyAlgoECDSA384: true, ssh.KeyAlgoECDSA521: true,
}

func invalidArgs(format string, args ...any) *awsproto.Error {
	return awsproto.Errorf(http.StatusBadRequest, "InvalidArgsException", format, args...)
}

// validate checks the request as the service model does.
func validate(r sendRequest) (ssh.PublicKey, *awsproto.Error) {
	switch {
	case r.InstanceID == "":
		return nil, invalidArgs("InstanceId is required.")
	case len(r.InstanceID) < 10 || len(r.InstanceID) > 32 || !instanceIDRe().MatchString(r.InstanceID):
		return nil, invalidArgs("Invalid instance ID: %q. Instance IDs look like i-0123456789abcdef0.", truncate(r.InstanceID))
	case r.InstanceOSUser == "":
		return nil, invalidArgs("InstanceOSUser is required.")
	case len(r.InstanceOSUser) > 32 || !osUserRe().MatchString(r.InstanceOSUser):
		return nil, invalidArgs("Invalid InstanceOSUser: %q is not a valid Linux user name.", truncate(r.InstanceOSUser))
	case r.SSHPublicKey == "":
		return nil, invalidArgs("SSHPublicKey is required.")
	case len(r.SSHPublicKey) < 80 || len(r.SSHPublicKey) > 4096:
		return nil, invalidArgs("SSHPublicKey must be from 80 to 4096 characters long.")
	case r.AvailabilityZone != "" && !azRe().MatchString(r.AvailabilityZone):
		return nil, invalidArgs("Invalid AvailabilityZone: %q.", truncate(r.AvailabilityZone))
	case !utf8.ValidString(r.SSHPublicKey) || strings.ContainsAny(strings.TrimSpace(r.SSHPublicKey), "\r\n"):
		return nil, invalidArgs("SSHPublicKey must be one line in OpenSSH format.")
	}
	pk, _, _, rest, err := ssh.ParseAuthorizedKey([]byte(r.SSHPublicKey))
	if err != nil || strings.TrimSpace(string(rest)) != "" {
		return nil, invalidArgs("SSHPublicKey is not a valid OpenSSH public key.")
	}
	if !allowedKeyTypes[pk.Type()] {
		return nil, invalidArgs("SSHPublicKey type %s is not supported; use ssh-ed25519, ssh-rsa or ecdsa-sha2-nistp*.", pk.Type())
	}
	if pk.Type() == ssh.KeyAlgoRSA {
		if cpk, ok := pk.(ssh.CryptoPublicKey); ok {
			if rk, ok := cpk.CryptoPublicKey().(interface{ Size() int }); ok && rk.Size()*8 < 2048 {
				return nil, invalidArgs("SSHPublicKey: RSA keys must have at least 2048 bits.")
			}
		}
	}
	return pk, nil
}

func truncate(s string) string {
	if len(s) > 64 {
		return s[:64] + "…"
	}
	return s
}

// sendSSHPublicKey is SendSSHPublicKey.
func (s *service) sendSSHPublicKey(c *api.Call) (result any, err error) {
	var req sendRequest
	rec := func(errCode, errMsg string, arn string) error {
		m := audit.Meta{AccountID: s.cfg.AccountID, Region: s.cfg.Region, Principal: c.Principal, SourceIP: c.Info.SourceIP,
			UserAgent: c.UserAgent, RequestID: c.RequestID, Time: s.cfg.Now()}
		params := map[string]string{"instanceId": req.InstanceID, "instanceOSUser": req.InstanceOSUser, "sSHPublicKey": req.SSHPublicKey}
		if req.AvailabilityZone != "" {
			params["availabilityZone"] = req.AvailabilityZone
		}
		var resp any
		if errCode == "" {
			resp = map[string]any{"requestId": c.RequestID, "success": true}
		}
		r := audit.APICall(m, audit.SourceInstanceConn, "SendSSHPublicKey", false, params, resp, "AWS::EC2::Instance", arn, errCode, errMsg)
		if werr := s.audit.Write(c.Ctx, r, "", req.InstanceID); werr != nil {
			c.Logger.Error("could not record SendSSHPublicKey", "error", werr)
			return fmt.Errorf("eicapi: audit: %w", werr)
		}
		return nil
	}
	defer func() {
		// Every push that reached the service is on record, refused or not.
		if err != nil {
			e := awsproto.AsError(err)
			_ = rec(e.Code, e.Message, s.instanceARN(req.InstanceID))
		}
	}()
	if err := c.DecodeJSON(&req); err != nil {
		return nil, err
	}
	pk, aerr := validate(req)
	if aerr != nil {
		return nil, aerr
	}
	// The caller is authorized before it learns whether the instance
	// exists: on the ARN built from the id, with the instance's tags when
	// there is one.
	i, err := s.cfg.Store.GetInstance(c.Ctx, req.InstanceID)
	missing := errors.Is(err, store.ErrNotFound)
	if err != nil && !missing {
		return nil, fmt.Errorf("eicapi: get instance: %w", err)
	}
	arn := s.instanceARN(req.InstanceID)
	cx := policy.Context{}
	cx.Set("ec2:osuser", req.InstanceOSUser)
	for _, t := range i.Tags {
		cx.Set("aws:ResourceTag/"+t.Key, t.Value)
		cx.Set("ec2:ResourceTag/"+t.Key, t.Value)
	}
	if err := c.Authorize(ActionSendSSHPublicKey, arn, cx); err != nil {
		return nil, err
	}
	if missing {
		return nil, awsproto.Errorf(http.StatusBadRequest, "EC2InstanceNotFoundException", "Instance not found: %s", req.InstanceID)
	}
	if req.AvailabilityZone != "" && i.AvailabilityZone != "" && req.AvailabilityZone != i.AvailabilityZone {
		return nil, invalidArgs("Instance %s is not in availability zone %s.", i.InstanceID, req.AvailabilityZone)
	}
	if i.State != "" && i.State != "running" {
		return nil, awsproto.Errorf(http.StatusBadRequest, "EC2InstanceStateInvalidException", "Instance %s is in state %s; keys can be pushed only to running instances.", i.InstanceID, i.State)
	}
	now := s.cfg.Now().UTC()
	line := strings.TrimSpace(string(ssh.MarshalAuthorizedKey(pk)))
	entry, err := sshkeys.Sign(s.cfg.Signer, sshkeys.Entry{InstanceID: i.InstanceID, User: req.InstanceOSUser,
		Expires: now.Add(s.cfg.KeyTTL).Unix(), Key: line, Caller: c.Principal.ARN, RequestID: c.RequestID})
	if err != nil {
		return nil, invalidArgs("%v", err)
	}
	k := store.PushedKey{KeyID: c.RequestID, InstanceID: i.InstanceID, OSUser: req.InstanceOSUser, PublicKey: line,
		CallerARN: c.Principal.ARN, RequestID: c.RequestID, CreatedAt: now, ExpiresAt: time.Unix(entry.Expires, 0).UTC(),
		Signature: []byte(entry.Signature)}
	if err := s.cfg.Store.PutPushedKey(c.Ctx, k); err != nil {
		return nil, fmt.Errorf("eicapi: store pushed key: %w", err)
	}
	if err := rec("", "", arn); err != nil {
		return nil, err
	}
	s.cfg.Metrics.KeyPushed()
	c.Logger.LogAttrs(c.Ctx, slog.LevelInfo, "ssh public key pushed", slog.String("instance", i.InstanceID),
		slog.String("os_user", req.InstanceOSUser), slog.String("fingerprint", ssh.FingerprintSHA256(pk)),
		slog.String("principal", c.Principal.ARN), slog.Duration("ttl", s.cfg.KeyTTL))
	return sendResult{RequestID: c.RequestID, Success: true}, nil
}

func (s *service) instanceARN(id string) string {
	return "arn:aws:ec2:" + s.cfg.Region + ":" + s.cfg.AccountID + ":instance/" + id
}

// Entries returns the signed, unexpired entries of an instance's OS user,
// for the key services.
func Entries(keys []store.PushedKey) []sshkeys.Entry {
	out := make([]sshkeys.Entry, 0, len(keys))
	for _, k := range keys {
		out = append(out, sshkeys.Entry{InstanceID: k.InstanceID, User: k.OSUser, Expires: k.ExpiresAt.Unix(), Key: k.PublicKey,
			Caller: k.CallerARN, RequestID: k.RequestID, Signature: string(k.Signature)})
	}
	return out
}
