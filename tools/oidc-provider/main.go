// Command oidc-provider runs a real OpenID provider for Postern's tests:
// zitadel/oidc's example OpenID provider (an OpenID-certified library,
// Apache-2.0, like its example server) with the clients, users, signing
// algorithm and TLS certificate a test asks for.
//
// It is an honest provider: the authorization-code flow signs the person
// in on the provider's own login page, the device flow takes the user code
// on the provider's own page, tokens are signed with a key made fresh at
// every start and published at the JWKS endpoint, and discovery is served
// at /.well-known/openid-configuration. It is test equipment, not a
// product: users and their plain-text passwords come from the JSON
// configuration, and everything lives in memory.
//
// Usage:
//
//	oidc-provider -config op.json -tls-cert cert.pem -tls-key key.pem [-listen 127.0.0.1:0 | -listen-fd 3]
//
// Once serving it prints one JSON line on stdout:
//
//	{"addr":"127.0.0.1:PORT","issuer":"https://127.0.0.1:PORT","alg":"RS256","kid":"..."}
//
// The certificate and key files are reused when both exist (so a restart
// keeps the same certificate and thumbprint) and otherwise generated (a
// self-signed ECDSA P-256 certificate for 127.0.0.1, ::1 and localhost)
// and written there. SIGTERM or SIGINT stops it.
package main

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/zitadel/oidc/v3/example/server/exampleop"
	"github.com/zitadel/oidc/v3/pkg/op"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "oidc-provider:", err)
		os.Exit(1)
	}
}

// ready is the line printed on stdout once the provider serves.
type ready struct {
	Addr   string `json:"addr"`
	Issuer string `json:"issuer"`
	Alg    string `json:"alg"`
	KeyID  string `json:"kid"`
}

func run() error {
	var (
		listen   = flag.String("listen", "127.0.0.1:0", "address to listen on (port 0: pick a free one)")
		listenFD = flag.Int("listen-fd", 0, "inherited listening socket's file descriptor (overrides -listen)")
		cfgPath  = flag.String("config", "", "JSON configuration: alg, clients, users (required)")
		certPath = flag.String("tls-cert", "", "PEM certificate file: reused if it and -tls-key exist, else generated and written (required)")
		keyPath  = flag.String("tls-key", "", "PEM private key file for -tls-cert (required)")
	)
	flag.Parse()
	if *cfgPath == "" || *certPath == "" || *keyPath == "" {
		return errors.New("-config, -tls-cert and -tls-key are required")
	}
	cfg, err := loadConfig(*cfgPath)
	if err != nil {
		return err
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))

	cert, err := loadOrCreateCert(*certPath, *keyPath)
	if err != nil {
		return err
	}

	var ln net.Listener
	if *listenFD > 0 {
		f := os.NewFile(uintptr(*listenFD), "listener")
		if f == nil {
			return fmt.Errorf("listen-fd %d: not an open file", *listenFD)
		}
		ln, err = net.FileListener(f)
		f.Close()
		if err != nil {
			return fmt.Errorf("listen-fd %d: %w", *listenFD, err)
		}
	} else {
		ln, err = net.Listen("tcp", *listen)
		if err != nil {
			return fmt.Errorf("listen %s: %w", *listen, err)
		}
	}
	addr := ln.Addr().(*net.TCPAddr)
	issuer := "https://" + addr.String()

	key, err := newSigningKey(cfg.Alg)
	if err != nil {
		return err
	}
	store, err := newStorage(cfg, key)
	if err != nil {
		return err
	}

	var cryptoKey [32]byte
	if _, err := rand.Read(cryptoKey[:]); err != nil {
		return fmt.Errorf("token encryption key: %w", err)
	}
	router := exampleop.SetupServer(issuer, store, logger, false, op.WithCrypto(op.NewAESCrypto(cryptoKey)))

	srv := &http.Server{
		Handler:           router,
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	tlsLn := tlsListener(ln, cert)

	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(tlsLn) }()

	line, err := json.Marshal(ready{Addr: addr.String(), Issuer: issuer, Alg: cfg.Alg, KeyID: key.id})
	if err != nil {
		return err
	}
	if _, err := fmt.Fprintf(os.Stdout, "%s\n", line); err != nil {
		return fmt.Errorf("stdout: %w", err)
	}
	logger.Info("serving", "issuer", issuer, "alg", cfg.Alg, "kid", key.id)

	sigc := make(chan os.Signal, 1)
	signal.Notify(sigc, syscall.SIGTERM, syscall.SIGINT)
	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-sigc:
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return srv.Shutdown(ctx)
}
