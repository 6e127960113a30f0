// Package server is Postern's composition root: it prepares the data
// directory (keys, certificates, database, client files), opens the store,
// builds the API handlers and serves them on one TLS listener until the
// context ends, then shuts down gracefully.
//
// Servers never pick their own listener in tests: Serve takes one. Run is
// the `postern server` command's body and listens on the configured
// address.
package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"crypto/ed25519"
	"crypto/x509"

	"github.com/postern/postern/internal/server/api"
	"github.com/postern/postern/internal/server/audit"
	"github.com/postern/postern/internal/server/config"
	"github.com/postern/postern/internal/server/console"
	"github.com/postern/postern/internal/server/ctapi"
	"github.com/postern/postern/internal/server/ec2api"
	"github.com/postern/postern/internal/server/eicapi"
	"github.com/postern/postern/internal/server/endpoints"
	"github.com/postern/postern/internal/server/frontdoor"
	"github.com/postern/postern/internal/server/httpedge"
	"github.com/postern/postern/internal/server/iamapi"
	"github.com/postern/postern/internal/server/identity"
	"github.com/postern/postern/internal/server/keyauth"
	"github.com/postern/postern/internal/server/livetunnels"
	"github.com/postern/postern/internal/server/metrics"
	"github.com/postern/postern/internal/server/pki"
	"github.com/postern/postern/internal/server/relay"
	"github.com/postern/postern/internal/server/replicas"
	"github.com/postern/postern/internal/server/sealer"
	"github.com/postern/postern/internal/store"
	"github.com/postern/postern/internal/store/sqlstore"
	"github.com/postern/postern/internal/util/atomicfile"
	"github.com/postern/postern/internal/util/ownerhint"
	"github.com/postern/postern/internal/wire/agentkey"
	"github.com/postern/postern/internal/wire/awsid"
	"github.com/postern/postern/internal/wire/keyservice"
	"github.com/postern/postern/internal/wire/tlsbatch"
	"github.com/postern/postern/internal/wire/tunnelproto"
)

// Options are the settings `postern server` takes from its flags. Anything
// else comes from the config file.
type Options struct {
	DataDir    string // --data-dir
	Listen     string // --listen HOST:PORT[,HOST:PORT...]
	ConfigFile string // --config; empty means DataDir/postern.yaml if it exists
	Database   string // --database: sqlite (default) or a postgres:// URL
	// ListenFDs (--listen-fd N[,N...]) are listening TCP sockets the
	// server inherits as open file descriptors, served instead of
	// listening on Listen (the first is the main one): a supervisor or a
	// test keeps the port while the server restarts.
	ListenFDs []int
	// Version is Postern's version (`postern --version`), which the
	// console shows and puts in its calls' user agent.
	Version string
	// LogLevel, when set, is the level of Run's logger: Run sets it to
	// the config file's log_level, unless LogLevelGiven (--log-level on
	// the command line, which wins over the file).
	LogLevel      *slog.LevelVar
	LogLevelGiven bool
}

// Files the server writes into its data directory.
const (
	DatabaseFile    = "postern.db"
	SecretKeyFile   = "secret.key"
	CredentialsFile = "credentials"
	ClientConfig    = "config"
	ConfigFileName  = "postern.yaml"
	// Profile is the AWS profile name in the client files.
	Profile = "postern"
)

// Settings keys in the store.
const (
	settingAccountID = "account_id"
	settingRegion    = "region"
)

// OpenStore opens (creating and migrating as needed) the configured store:
// SQLite in the data directory by default, or PostgreSQL when database is
// a postgres:// URL (several replicas share one).
func OpenStore(ctx context.Context, cfg config.Server, logger *slog.Logger) (store.Store, error) {
	switch {
	case cfg.Database == "" || cfg.Database == "sqlite":
		if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
			return nil, fmt.Errorf("server: data directory: %w", err)
		}
		st, err := sqlstore.OpenSQLite(ctx, filepath.Join(cfg.DataDir, DatabaseFile), logger)
		if err != nil {
			return nil, fmt.Errorf("server: open database: %w", err)
		}
		return st, nil
	case strings.HasPrefix(cfg.Database, "postgres://") || strings.HasPrefix(cfg.Database, "postgresql://"):
		st, err := sqlstore.OpenPostgres(ctx, cfg.Database, logger)
		if err != nil {
			return nil, fmt.Errorf("server: open PostgreSQL: %w", err)
		}
		return st, nil
	}
	return nil, fmt.Errorf("server: database %q: want sqlite (the default) or a postgres:// URL", redactDSN(cfg.Database))
}

// redactDSN hides a password in a database URL.
func redactDSN(dsn string) string {
	if u, err := url.Parse(dsn); err == nil && u.User != nil {
		if _, ok := u.User.Password(); ok {
			u.User = url.UserPassword(u.User.Username(), "xxxxx")
			return u.String()
		}
	}
	return dsn
}

// gcFloor is the least headroom the collector gives the heap
// (gcTuner): GOGC 100 up to a live heap of gcFloor, 50 from twice that.
const gcFloor = 4 << 20

// Run starts the server and blocks until ctx is cancelled (SIGINT/SIGTERM
// in the CLI), then shuts down gracefully. What it made and how to connect
// is printed to out; logs go to logger.
func Run(ctx context.Context, opts Options, out io.Writer, logger *slog.Logger) error {
	if os.Getenv("GOGC") == "" {
		// A server holding many tunnels collects at 1.5× its live heap
		// (GOGC 50: less memory per tunnel than Go's 2×), but a small
		// heap gets at least gcFloor of headroom: with a few tunnels
		// open the live heap is ~1.5 MiB and an open allocates ~100 KiB,
		// so GOGC 50 collected every few opens (9–16 % of the server's
		// CPU per open, internal/bench/tunnelbench). At most gcFloor/2
		// more than GOGC 50 would keep, none above 2×gcFloor live.
		gc := startGCTuner(gcFloor, 50, 100).allowBursts(gcBurstHeadroom, gcBurstRate, gcBurstPoll)
		defer gc.Stop()
	}
	cfg, err := resolveConfig(opts)
	if err != nil {
		return err
	}
	if opts.LogLevel != nil && !opts.LogLevelGiven {
		// Validated by config.Load: debug, info, warn or error.
		if err := opts.LogLevel.UnmarshalText([]byte(cfg.LogLevel)); err != nil {
			return fmt.Errorf("log_level: %w", err)
		}
	}
	var lns []net.Listener
	if len(opts.ListenFDs) > 0 {
		lns, err = inheritedListeners(opts.ListenFDs)
		if err == nil {
			// What the server says about its listeners (the
			// client configuration's URL) is of the inherited ones.
			addrs := make([]string, len(lns))
			for i, ln := range lns {
				addrs[i] = ln.Addr().String()
			}
			cfg.Listen = config.ParseAddrs(strings.Join(addrs, ","))
		}
	} else {
		lns, err = listenAll(cfg.Listen)
	}
	if err != nil {
		return err
	}
	for _, extra := range lns[1:] {
		fmt.Fprintf(out, "  also listening on %s\n", extra.Addr())
	}
	// One listener for the rest: the first address is the main one.
	ln := httpedge.Merge(lns)
	if cfg.Advertise == "" {
		_, port, _ := net.SplitHostPort(ln.Addr().String())
		cfg.Advertise = net.JoinHostPort(cfg.PublicHost, port)
	}
	if l := exposedListen(cfg.Advertise, cfg.Listen); l != "" {
		logger.Warn("the server listens where other hosts reach it but advertises a loopback address they cannot use: set public_host (and tls.sans for its other names)",
			"listen", l, "advertise", cfg.Advertise)
	}
	s, err := New(ctx, cfg, logger)
	if err != nil {
		ln.Close()
		return err
	}
	defer s.Close()
	s.SetVersion(opts.Version)
	if err := s.WriteClientConfig(ln.Addr()); err != nil {
		ln.Close()
		return err
	}
	s.PrintWelcome(out, ln.Addr())

	if cfg.MetricsListen != "" {
		mln, err := net.Listen("tcp", cfg.MetricsListen)
		if err != nil {
			ln.Close()
			return fmt.Errorf("server: metrics listener %s: %w", cfg.MetricsListen, err)
		}
		go func() {
			if err := s.ServeMetrics(mln); err != nil {
				logger.Error("metrics listener stopped", "error", err)
			}
		}()
		fmt.Fprintf(out, "  metrics: https://%s/metrics\n", mln.Addr())
	}
	errc := make(chan error, 1)
	go func() { errc <- s.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	logger.Info("shutting down")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), shutdownBudget(s.Config.Tunnel.CloseGraceSeconds))
	defer cancel()
	if err := s.Shutdown(shutdownCtx); err != nil {
		return fmt.Errorf("server: shutdown: %w", err)
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	fmt.Fprintln(out, "Postern stopped.")
	return nil
}

func resolveConfig(opts Options) (config.Server, error) {
	cfg := config.Default()
	path := opts.ConfigFile
	if path == "" && opts.DataDir != "" {
		if p := filepath.Join(opts.DataDir, ConfigFileName); fileExists(p) {
			path = p
		}
	}
	if path != "" {
		var err error
		if cfg, err = config.Load(path); err != nil {
			// The default file is the first of the data directory's read.
			// Without --data-dir there is no directory yet to explain
			// (Wrap would take the working directory for it).
			if opts.DataDir != "" {
				err = dataDirHint(err, opts.DataDir)
			}
			return cfg, err
		}
	}
	if opts.DataDir != "" {
		cfg.DataDir = opts.DataDir
	}
	// Cleaned once, here, as filepath.Join cleans the names of the files
	// in it: a ".." after a symlink would otherwise make one directory
	// (the kernel's, at MkdirAll) and keep the files in another (the
	// text's).
	if cfg.DataDir != "" {
		cfg.DataDir = filepath.Clean(cfg.DataDir)
	}
	if opts.Listen != "" {
		cfg.Listen = config.ParseAddrs(opts.Listen)
	}
	if opts.Database != "" {
		cfg.Database = opts.Database
	}
	if err := cfg.Validate(); err != nil {
		return cfg, fmt.Errorf("server: invalid configuration: %w", err)
	}
	return cfg, nil
}

// Server is a prepared Postern server: data directory, store, handlers.
type Server struct {
	Config    config.Server
	AccountID string
	Store     store.Store
	Sealer    *sealer.Sealer
	Certs     *pki.Bundle
	// Admin is set when this start created the bootstrap administrator.
	Admin *iamapi.BootstrapResult
	// Created lists the files this start created in the data directory.
	Created []string

	// Local is the one-machine network the embedded agent serves (zero
	// when agent.embedded is off).
	Local endpoints.LocalNetwork

	logger     *slog.Logger
	handler    http.Handler
	http       *http.Server
	tls        *tls.Config
	relay      *relay.Relay
	frontdoor  *frontdoor.FrontDoor
	endpoints  *endpoints.Endpoints
	caPin      string
	signer     ed25519.PrivateKey
	stopSweep  chan struct{}
	audit      *audit.Writer
	metrics    *metrics.Metrics
	stopping   atomic.Bool // Shutdown began: /readyz says so
	metricsMu  sync.Mutex  // guards http and metricsSrv (Serve and Shutdown may run at once)
	metricsSrv *http.Server
	closeOnce  sync.Once
	// members is this replica's place among the replicas on PostgreSQL;
	// nil when the server runs alone (tunnels.go).
	members *replicas.Membership
	// tunnels is what ListTunnels and TerminateTunnel act on: every
	// replica's live tunnels.
	tunnels *livetunnels.Directory
	// console is the web console (nil when console.enabled is false);
	// consoleLink is the bootstrap administrator's one-time sign-in
	// link, made on the first start only.
	console     *console.Console
	consoleLink string
}

// dataDirHint adds to a permission error on the data directory dir (or a
// file of it, or a parent it was to be made in) who owns it when that is
// another user, and what to do (package ownerhint, which says the same of
// an agent's state directory). Why: the server writes its files 0600, so a
// data directory stays with the UID that first wrote it, and a container
// platform that runs the image as a new UID (another OpenShift project, a
// changed runAsUser) or a host folder owned by root otherwise meets a bare
// "permission denied".
func dataDirHint(err error, dir string) error {
	return ownerhint.Wrap(err, ownerhint.Dir{Path: dir, Noun: "data directory", Program: "server", Flag: "--data-dir"})
}

// New prepares the data directory and builds the handlers.
func New(ctx context.Context, cfg config.Server, logger *slog.Logger) (*Server, error) {
	began := time.Now()
	s := &Server{Config: cfg, logger: logger}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("server: data directory: %w", dataDirHint(err, cfg.DataDir))
	}
	keyPath := filepath.Join(cfg.DataDir, SecretKeyFile)
	key, created, err := sealer.LoadOrCreateKeyFile(keyPath)
	if err != nil {
		return nil, dataDirHint(err, cfg.DataDir)
	}
	if created {
		s.Created = append(s.Created, keyPath)
	}
	if s.Sealer, err = sealer.New(key); err != nil {
		return nil, err
	}
	if err := s.loadCerts(); err != nil {
		return nil, err
	}
	if err := s.loadSigner(); err != nil {
		return nil, err
	}
	// Whether the SQLite database is new is known only before the store is
	// opened: opening it creates the file.
	dbPath := filepath.Join(cfg.DataDir, DatabaseFile)
	newDB := (cfg.Database == "" || cfg.Database == "sqlite") && !fileExists(dbPath)
	st, err := OpenStore(ctx, cfg, logger)
	if err != nil {
		return nil, err
	}
	if newDB {
		s.Created = append(s.Created, dbPath)
	}
	s.Store = st
	if err := s.bootstrap(ctx); err != nil {
		st.Close()
		return nil, err
	}
	if err := s.buildHandler(ctx); err != nil {
		st.Close()
		return nil, err
	}
	s.closeUnclosedTunnels(ctx, began)
	s.stopSweep = make(chan struct{})
	go s.sweep(s.stopSweep)
	if s.members != nil {
		s.members.Start(ctx)
		go s.tunnels.Run(s.stopSweep)
	}
	return s, nil
}

// DNSName is the dnsName of this server's endpoints: the advertised host,
// with the port unless it is 443. An IPv6 literal is bracketed either way
// ("[fd00::1]"), since clients put the name into a wss:// URL.
func (s *Server) DNSName() string {
	host, port, err := net.SplitHostPort(s.advertise())
	if err != nil || port == "443" {
		if strings.Contains(host, ":") {
			return "[" + host + "]"
		}
		return host
	}
	return net.JoinHostPort(host, port)
}

// replicaAddress is where agents reach this replica itself.
func (s *Server) replicaAddress() string {
	if s.Config.ReplicaAddress != "" {
		return s.Config.ReplicaAddress
	}
	return s.advertise()
}

// advertise is where clients and agents reach the server.
func (s *Server) advertise() string {
	if s.Config.Advertise != "" {
		return s.Config.Advertise
	}
	_, port, _ := net.SplitHostPort(s.Config.Listen.First())
	return net.JoinHostPort(s.Config.PublicHost, port)
}

func (s *Server) loadCerts() error {
	cfg := s.Config
	if cfg.TLS.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(cfg.TLS.CertFile, cfg.TLS.KeyFile)
		if err != nil {
			return fmt.Errorf("server: load TLS certificate: %w", err)
		}
		s.tls = listenerTLS(cert)
		// Agents pin the last certificate of the chain the server sends
		// (the CA when the chain includes it).
		if last, err := x509.ParseCertificate(cert.Certificate[len(cert.Certificate)-1]); err == nil {
			s.caPin = agentkey.CertFingerprint(last)
		}
		if cfg.TLS.CAFile != "" {
			pemBytes, err := os.ReadFile(cfg.TLS.CAFile)
			if err != nil {
				return fmt.Errorf("server: read tls.ca_file: %w", err)
			}
			if err := os.WriteFile(filepath.Join(cfg.DataDir, pki.CAFile), pemBytes, 0o644); err != nil {
				return fmt.Errorf("server: write ca.pem: %w", err)
			}
		}
		return nil
	}
	sans := append([]string{cfg.PublicHost}, cfg.TLS.SANs...)
	b, err := pki.LoadOrCreate(cfg.DataDir, dedupe(sans), time.Now())
	if err != nil {
		return err
	}
	s.Certs = b
	s.Created = append(s.Created, b.Created...)
	// Agents present their key as a client certificate (asked for only
	// when they offer the agent ALPN protocol); other clients send none.
	// The certificate is checked by the relay, per request.
	s.tls = listenerTLS(b.ServerTLS)
	s.caPin = agentkey.CertFingerprint(b.CA)
	return nil
}

// bootstrap records the account and region on first start (and checks
// them on later starts) and creates the administrator.
func (s *Server) bootstrap(ctx context.Context) error {
	err := s.Store.InTx(ctx, func(tx store.Repo) error {
		acct, err := tx.GetSetting(ctx, settingAccountID)
		switch {
		case errors.Is(err, store.ErrNotFound):
			acct = s.Config.AccountID
			if acct == "" {
				acct = awsid.AccountID()
			}
			if err := tx.PutSetting(ctx, settingAccountID, acct); err != nil {
				return err
			}
			if err := tx.PutSetting(ctx, settingRegion, s.Config.Region); err != nil {
				return err
			}
		case err != nil:
			return err
		case s.Config.AccountID != "" && s.Config.AccountID != acct:
			return fmt.Errorf("server: account_id %s in the configuration differs from %s in the database", s.Config.AccountID, acct)
		}
		s.AccountID = acct
		return nil
	})
	if err != nil {
		return fmt.Errorf("server: account settings: %w", err)
	}
	res, err := iamapi.Bootstrap(ctx, s.iamConfig(nil), s.Config.AdminUser)
	if err != nil {
		return fmt.Errorf("server: bootstrap administrator: %w", err)
	}
	if res.Created {
		s.Admin = &res
		path := filepath.Join(s.Config.DataDir, CredentialsFile)
		content := fmt.Sprintf("[%s]\naws_access_key_id = %s\naws_secret_access_key = %s\n", Profile, res.AccessKeyID, res.SecretAccessKey)
		if err := writeFileAtomic(path, []byte(content), 0o600); err != nil {
			return fmt.Errorf("server: write credentials: %w", err)
		}
		s.Created = append(s.Created, path)
		if s.Config.ConsoleEnabled() {
			token, err := console.NewBootstrapLink(ctx, s.Store, res.User, time.Now())
			if err != nil {
				return fmt.Errorf("server: %w", err)
			}
			s.consoleLink = "https://" + s.DNSName() + console.LinkPath(token)
		}
	}
	return nil
}

func (s *Server) iamConfig(authz *identity.Authorizer) iamapi.Config {
	return iamapi.Config{Store: s.Store, Sealer: s.Sealer, Authorizer: authz, AccountID: s.AccountID,
		Logger: s.logger.With("component", "oidc")}
}

func (s *Server) ec2Config() ec2api.Config {
	cfg := ec2api.Config{
		Store: s.Store, AccountID: s.AccountID, Region: s.Config.Region, DNSName: s.DNSName(),
		EndpointsPerVPC: s.Config.EC2.EndpointsPerVPC, EndpointsPerSubnet: s.Config.EC2.EndpointsPerSubnet,
		JoinServer: s.advertise(), JoinCAPin: s.caPin,
		JoinTokenTTL: time.Duration(s.Config.Tunnel.JoinTokenTTLSeconds) * time.Second,
	}
	// ec2.ipv6_pool was checked by Validate.
	cfg.IPv6Pool, _ = s.Config.EC2.IPv6PoolPrefix()
	cfg.Endpoints = s.endpoints // nil before buildTunnels
	return cfg
}

func (s *Server) buildHandler(ctx context.Context) error {
	authn, err := identity.NewAuthenticator(identity.AuthConfig{Store: s.Store, Sealer: s.Sealer, AccountID: s.AccountID, Region: s.Config.Region})
	if err != nil {
		return err
	}
	authz := identity.NewAuthorizer(s.Store, nil)
	sinks, err := s.auditSinks()
	if err != nil {
		return err
	}
	s.audit = audit.NewWriter(s.Store, func(err error) { s.logger.Error("audit sink failed", "error", err) }, sinks...)
	s.metrics = metrics.New()
	s.audit.ObserveCommits(s.metrics.StoreCommit)
	if err := s.buildTunnels(ctx, authn, authz); err != nil {
		return err
	}
	iamSvc, err := iamapi.NewIAM(s.iamConfig(authz))
	if err != nil {
		return err
	}
	stsSvc, err := iamapi.NewSTS(s.iamConfig(authz))
	if err != nil {
		return err
	}
	ec2Svc, err := ec2api.NewEC2(s.ec2Config())
	if err != nil {
		return err
	}
	eicSvc, err := eicapi.New(eicapi.Config{Store: s.Store, AccountID: s.AccountID, Region: s.Config.Region, Signer: s.signer,
		KeyTTL: time.Duration(s.Config.SSH.KeyTTLSeconds) * time.Second, Tunnels: s.tunnels, Audit: s.audit, Metrics: s.metrics})
	if err != nil {
		return err
	}
	disp, err := api.New(api.Config{Authenticator: authn, Authorizer: authz, Logger: s.logger, Services: []*api.Service{iamSvc, stsSvc, ec2Svc, eicSvc, ctapi.New(s.Store)},
		Audit: s.audit, AccountID: s.AccountID, Region: s.Config.Region, Metrics: s.metrics})
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		_, _ = io.WriteString(w, "ok\n")
	})
	// Readiness, for load balancers: the store answers and the server is
	// not shutting down (/healthz only says the process serves HTTP).
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		if s.stopping.Load() {
			http.Error(w, "shutting down", http.StatusServiceUnavailable)
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		if _, err := s.Store.GetSetting(ctx, settingAccountID); err != nil {
			http.Error(w, "store unavailable", http.StatusServiceUnavailable)
			return
		}
		_, _ = io.WriteString(w, "ready\n")
	})
	mux.Handle("POST /{$}", disp)
	var root http.Handler = disp
	if s.Config.ConsoleEnabled() {
		c, err := console.New(ctx, console.Config{
			Store: s.Store, Sealer: s.Sealer, IAM: s.iamConfig(authz), Authenticator: authn, Authorizer: authz,
			Audit: s.audit, Handler: mux, AccountID: s.AccountID, Region: s.Config.Region, Host: s.DNSName(),
			Console: s.Config.Console, DataDir: s.Config.DataDir, Logger: s.logger.With("component", "console"),
		})
		if err != nil {
			return err
		}
		s.console = c
		c.Register(mux)
		// A browser opening the server's address lands on the console;
		// API GETs (presigned) still reach the API.
		root = c.RedirectRoot(disp)
	}
	mux.Handle("GET /{$}", root)
	mux.Handle("GET /openTunnel", s.frontdoor)
	mux.HandleFunc("POST "+tunnelproto.JoinPath, s.relay.HandleJoin)
	mux.HandleFunc("GET "+tunnelproto.LinkPath, s.relay.HandleLink)
	keys := keyauth.NewAuthorizer(s.Store, keyauth.Local{EndpointID: s.Local.EndpointID, VpcID: s.Local.VpcID})
	mux.Handle(keyservice.Pattern, keyservice.Handler(keyauth.Source(s.Store), keys.Authorize, s.logger.With("component", "keys")))
	s.handler = mux
	return nil
}

// SetVersion sets the version the console shows (before serving).
func (s *Server) SetVersion(v string) {
	if s.console != nil {
		s.console.SetVersion(v)
	}
}

// ConsoleLink is the bootstrap administrator's one-time console sign-in
// link, made on the first start (empty otherwise, or without a console).
func (s *Server) ConsoleLink() string { return s.consoleLink }

// Handler returns the server's HTTP handler (for in-process tests).
func (s *Server) Handler() http.Handler { return s.handler }

// TLSConfig returns the listener's TLS configuration: the server's
// certificate, and a client certificate asked for only from clients that
// offer the agents' ALPN protocol (listenerTLS).
func (s *Server) TLSConfig() *tls.Config { return s.tls.Clone() }

// apiServer returns the API listener's http.Server, made on first use.
// Serve and Shutdown may run concurrently (Shutdown from a signal or a
// test's cleanup while Serve is starting), so it is made under a lock.
func (s *Server) apiServer() *http.Server {
	s.metricsMu.Lock()
	defer s.metricsMu.Unlock()
	if s.http == nil {
		s.http = &http.Server{Handler: s.handler, TLSConfig: s.tls}
	}
	return s.http
}

// Serve serves TLS on ln until Shutdown. It always closes ln.
func (s *Server) Serve(ln net.Listener) error {
	hs := s.apiServer()
	// Timeouts, the per-source cap on unauthenticated connections and the
	// error log (edge.go); the cap sits beneath TLS, so that a refused
	// connection costs no handshake.
	ln = s.edge(hs, tlsbatch.Listener{Listener: ln})
	err := hs.Serve(tls.NewListener(ln, s.tls))
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// Shutdown stops accepting requests, ends open tunnels (close code 1001,
// recorded), closes the agents' links (they reconnect to the next start)
// and waits for requests in flight.
func (s *Server) Shutdown(ctx context.Context) error {
	s.stopping.Store(true)
	var errs []error
	if s.members != nil {
		if err := s.members.Withdraw(ctx); err != nil {
			errs = append(errs, fmt.Errorf("withdraw replica: %w", err))
		}
	}
	if s.frontdoor != nil {
		errs = append(errs, s.frontdoor.Shutdown(ctx))
	}
	if s.console != nil {
		// The browser terminals' sessions end, and the console's
		// in-process loop.
		errs = append(errs, s.console.Close())
	}
	if s.tunnels != nil {
		// The tunnels ended: remove their rows now rather than leave
		// them to the other replicas' sweep (nothing when alone).
		if err := s.tunnels.Sync(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	if s.relay != nil {
		s.relay.Close()
	}
	// Made here if Serve has not made it yet, so that a Serve that starts
	// after Shutdown ends at once (ErrServerClosed) instead of serving.
	errs = append(errs, s.apiServer().Shutdown(ctx))
	s.metricsMu.Lock()
	msrv := s.metricsSrv
	s.metricsMu.Unlock()
	if msrv != nil {
		errs = append(errs, msrv.Shutdown(ctx))
	}
	return errors.Join(errs...)
}

// Close releases the store.
func (s *Server) Close() error {
	s.closeOnce.Do(func() {
		if s.stopSweep != nil {
			close(s.stopSweep)
		}
		if s.members != nil {
			s.members.Stop()
		}
	})
	if s.relay != nil {
		s.relay.Close()
	}
	if s.console != nil {
		_ = s.console.Close()
	}
	// The audit file and other copies get every committed record, the
	// file synced to disk.
	s.audit.CloseSinks()
	return s.Store.Close()
}

// Relay is the registry of agent links.
func (s *Server) Relay() *relay.Relay { return s.relay }

// FrontDoor is the openTunnel handler.
func (s *Server) FrontDoor() *frontdoor.FrontDoor { return s.frontdoor }

// EndpointURL is the URL clients use for a listener address.
func (s *Server) EndpointURL(addr net.Addr) string {
	host := s.Config.PublicHost
	_, port, _ := net.SplitHostPort(addr.String())
	if lh, _, err := net.SplitHostPort(s.Config.Listen.First()); err == nil {
		if ip := net.ParseIP(lh); ip != nil && ip.IsLoopback() {
			host = lh // a loopback listener is reached at that address
		}
	}
	return "https://" + net.JoinHostPort(host, port)
}

// WriteClientConfig writes DataDir/config (AWS shared-config format) for
// the listener's address; it holds no secret and is rewritten every start.
func (s *Server) WriteClientConfig(addr net.Addr) error {
	ca, _ := filepath.Abs(filepath.Join(s.Config.DataDir, pki.CAFile))
	content := fmt.Sprintf("[profile %s]\nregion = %s\nendpoint_url = %s\nca_bundle = %s\n", Profile, s.Config.Region, s.EndpointURL(addr), ca)
	path := filepath.Join(s.Config.DataDir, ClientConfig)
	if err := writeFileAtomic(path, []byte(content), 0o600); err != nil {
		return fmt.Errorf("server: write client config: %w", err)
	}
	return nil
}

// PrintWelcome tells the operator what was made and how to connect.
func (s *Server) PrintWelcome(out io.Writer, addr net.Addr) {
	dir, _ := filepath.Abs(s.Config.DataDir)
	var b strings.Builder
	fmt.Fprintf(&b, "Postern is running on %s (account %s, region %s)\n", s.EndpointURL(addr), s.AccountID, s.Config.Region)
	b.WriteString(exposedNote(s.advertise(), append([]string{addr.String()}, s.Config.Listen...)))
	fmt.Fprintf(&b, "  data directory: %s\n", dir)
	for _, f := range s.Created {
		fmt.Fprintf(&b, "  created: %s\n", f)
	}
	if s.Certs != nil {
		fmt.Fprintf(&b, "  CA certificate: %s (SHA-256 %s)\n", filepath.Join(dir, pki.CAFile), agentkey.DisplayFingerprint(s.Certs.CA))
	}
	if s.Admin != nil {
		fmt.Fprintf(&b, "  administrator: %s, access key %s (secret in %s)\n", s.Admin.User.ARN, s.Admin.AccessKeyID, filepath.Join(dir, CredentialsFile))
	}
	fmt.Fprintf(&b, "\nConnect with postern, the AWS CLI or an AWS SDK:\n")
	fmt.Fprintf(&b, "  export AWS_SHARED_CREDENTIALS_FILE=%s AWS_CONFIG_FILE=%s AWS_PROFILE=%s%s\n",
		shellQuote(filepath.Join(dir, CredentialsFile)), shellQuote(filepath.Join(dir, ClientConfig)), Profile, pathExport())
	fmt.Fprintf(&b, "  postern sts get-caller-identity\n")
	if s.consoleLink != "" {
		fmt.Fprintf(&b, "\nOpen the console (the link signs %s in once, within %d hours; then set a password in the console):\n", s.Admin.User.UserName, int(console.LinkTTL.Hours()))
		fmt.Fprintf(&b, "  %s\n", s.consoleLink)
	} else if s.console != nil {
		fmt.Fprintf(&b, "\nConsole: https://%s/console/\n", s.DNSName())
	}
	if s.Local.EndpointID != "" {
		user := shellQuote(welcomeUser())
		fmt.Fprintf(&b, "\nThis machine is instance %s behind endpoint %s (served from this process).\n", s.Local.InstanceID, s.Local.EndpointID)
		fmt.Fprintf(&b, "With an sshd on port 22, ssh to it through a tunnel:\n")
		fmt.Fprintf(&b, "  ssh -o ProxyCommand='postern ec2-instance-connect open-tunnel --instance-id %%h' %s@%s\n", user, s.Local.InstanceID)
		fmt.Fprintf(&b, "or, keyless (after `postern instance init` and sshd's AuthorizedKeysCommand, see README):\n")
		fmt.Fprintf(&b, "  postern ssh %s@%s\n", user, s.Local.InstanceID)
	}
	_, _ = io.WriteString(out, b.String())
}

// writeFileAtomic replaces path with data (see package atomicfile).
func writeFileAtomic(path string, data []byte, mode os.FileMode) error {
	return atomicfile.WriteFile(path, data, mode)
}

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return !errors.Is(err, fs.ErrNotExist)
}

func dedupe(in []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, s := range in {
		if s != "" && !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}

// shutdownBudget is how long Run gives Shutdown on SIGTERM: the tunnels'
// close grace (a client that does not answer its close frame is waited
// for that long) and 10 s for the rest (the tunnels' CloseTunnel records,
// the agents, the stores), at least 15 s. With the largest grace the
// configuration allows (10 s) it stays under the systemd unit's
// TimeoutStopSec (60 s).
func shutdownBudget(closeGraceSeconds int) time.Duration {
	return max(15*time.Second, time.Duration(closeGraceSeconds)*time.Second+10*time.Second)
}
