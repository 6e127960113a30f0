package cli

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/spf13/cobra"

	"github.com/postern/postern/internal/client/login"
)

// `postern login` signs a person in at their OpenID provider (the
// authorization-code flow with PKCE in the browser, or the device flow
// with --no-browser), assumes the profile's role with
// AssumeRoleWithWebIdentity and caches the credentials under
// ~/.postern/login; `postern login --credential-process` hands them to
// AWS tools through the profile's credential_process; `postern logout`
// forgets them. The package internal/client/login does the work.
//
// The profile's settings, in the config file:
//
//	postern_oidc_issuer        the provider's issuer URL
//	postern_oidc_client_id     the OAuth client registered for Postern
//	postern_oidc_client_secret the client's secret, for providers that give
//	                           installed applications one (Google)
//	postern_oidc_scopes        scopes, space-separated (default: openid
//	                           email profile offline_access)
//	postern_oidc_ca_bundle     PEM certificates to trust for the provider,
//	                           beyond the system's
//	postern_role_arn           the role, or several comma-separated to
//	                           choose from
//	postern_duration_seconds   the session length to ask for
//	credential_process         postern login --credential-process --profile P
//
// (not role_arn: with credential_process the SDKs and the AWS CLI would
// assume that role again with the signed-in credentials).

// loginSettings are a profile's sign-in settings.
type loginSettings struct {
	issuer, clientID, clientSecret string
	scopes                         []string
	caBundle                       string
	roles                          []string
	duration                       int32
}

func readLoginSettings(profileFlag string) (loginSettings, error) {
	get := func(k string) string { v, _ := configValue(profileFlag, k); return v }
	s := loginSettings{
		issuer:       get("postern_oidc_issuer"), // as the provider spells it: a trailing slash is part of some issuers
		clientID:     get("postern_oidc_client_id"),
		clientSecret: get("postern_oidc_client_secret"),
		scopes:       strings.Fields(strings.ReplaceAll(get("postern_oidc_scopes"), ",", " ")),
		caBundle:     get("postern_oidc_ca_bundle"),
	}
	for _, r := range strings.Split(get("postern_role_arn"), ",") {
		if r = strings.TrimSpace(r); r != "" {
			s.roles = append(s.roles, r)
		}
	}
	if d := get("postern_duration_seconds"); d != "" {
		n, err := strconv.ParseInt(d, 10, 32)
		if err != nil || n < 900 || n > 43200 {
			return s, fmt.Errorf("postern_duration_seconds %q: give a number of seconds from 900 to 43200", d)
		}
		s.duration = int32(n)
	}
	if s.issuer == "" || s.clientID == "" {
		return s, fmt.Errorf("the profile %s has no identity provider: set it up with \"postern login --configure --issuer URL --client-id ID --role-arn ARN%s\"",
			profileName(profileFlag), profileFlagText(profileFlag))
	}
	return s, nil
}

// session builds the profile's login.Session: the provider's HTTP client
// (system roots plus postern_oidc_ca_bundle) and an STS client for the
// profile's Postern endpoint (its calls go unsigned).
func (env *Env) loginSession(ctx context.Context) (*login.Session, error) {
	s, err := readLoginSettings(env.g.profile)
	if err != nil {
		return nil, &exitError{code: ExitConfig, msg: "postern login: " + err.Error()}
	}
	hc, err := providerHTTPClient(s.caBundle, env.g.noVerifySSL)
	if err != nil {
		return nil, &exitError{code: ExitConfig, msg: "postern login: " + err.Error()}
	}
	dir, err := login.DefaultCacheDir()
	if err != nil {
		return nil, &exitError{code: ExitConfig, msg: "postern login: " + err.Error()}
	}
	sess := &login.Session{
		Profile:         profileName(env.g.profile),
		Cache:           login.Cache{Dir: dir},
		Provider:        login.ProviderConfig{Issuer: s.issuer, ClientID: s.clientID, ClientSecret: s.clientSecret, Scopes: s.scopes, HTTPClient: hc},
		Roles:           s.roles,
		DurationSeconds: s.duration,
	}
	return sess, nil
}

// withSTS gives sess the STS client of the profile's endpoint.
func (env *Env) withSTS(ctx context.Context, sess *login.Session) error {
	cfg, err := env.LoadAWSConfig(ctx)
	if err != nil {
		return err
	}
	// AssumeRoleWithWebIdentity is unsigned: the profile's own
	// credentials (this very credential_process) are never asked for.
	cfg.Credentials = aws.AnonymousCredentials{}
	sess.STS = sts.NewFromConfig(cfg, func(o *sts.Options) { setEndpoint(&o.BaseEndpoint, env.g.endpointURL) })
	return nil
}

func providerHTTPClient(caBundle string, insecure bool) (*http.Client, error) {
	tlsCfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if caBundle != "" {
		pem, err := os.ReadFile(caBundle)
		if err != nil {
			return nil, fmt.Errorf("postern_oidc_ca_bundle: %w", err)
		}
		pool, err := x509.SystemCertPool()
		if err != nil || pool == nil {
			pool = x509.NewCertPool()
		}
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("postern_oidc_ca_bundle %s holds no PEM certificate", caBundle)
		}
		tlsCfg.RootCAs = pool
	}
	if insecure {
		tlsCfg.InsecureSkipVerify = true //nolint:gosec // the user asked for --no-verify-ssl
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = tlsCfg
	return &http.Client{Timeout: 30 * time.Second, Transport: tr}, nil
}

func loginCommand(env *Env) *cobra.Command {
	var (
		noBrowser, credProcess, configure bool
		roleARN, issuer, clientID, scopes string
		oidcCA                            string
		timeout                           time.Duration
	)
	cmd := &cobra.Command{
		Use:   "login",
		Short: "Sign in with your identity provider (OpenID Connect) and get the profile's role credentials",
		Long: `Sign in with the profile's OpenID provider and assume its role in Postern with
AssumeRoleWithWebIdentity. The credentials are cached in ~/.postern/login/PROFILE.json (mode 0600)
and handed to every AWS tool by the profile's credential_process, so "aws ...", the SDKs,
"postern ssh" and "ssh -o ProxyCommand='postern ec2-instance-connect open-tunnel ...'" run as you.

By default your browser opens the provider's sign-in page (the authorization-code flow with PKCE;
the browser comes back to a one-time listener on 127.0.0.1). With --no-browser, for a machine
without one, postern prints a URL and a code to enter on any device (the device flow).

With several roles in the profile (postern_role_arn = ARN1,ARN2), postern asks which one, or takes
--role-arn.

--credential-process is what credential_process runs: it prints the cached credentials as the AWS
credential_process JSON, renewing them with the provider's refresh token shortly before they
expire. It never opens a browser: when the sign-in cannot be renewed it fails and says to run
"postern login".

--configure writes the profile's settings (postern_oidc_issuer, postern_oidc_client_id,
postern_role_arn, credential_process; the endpoint comes from "postern configure --server").`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			switch {
			case configure:
				return loginConfigure(env, issuer, clientID, roleARN, scopes, oidcCA)
			case credProcess:
				return loginCredentialProcess(ctx, env)
			}
			if issuer != "" || clientID != "" || scopes != "" || oidcCA != "" {
				return usageErr("--issuer, --client-id, --scopes and --oidc-ca-bundle go with --configure")
			}
			return loginInteractive(ctx, env, noBrowser, roleARN, timeout)
		},
	}
	f := cmd.Flags()
	f.BoolVar(&noBrowser, "no-browser", false, "sign in on another device with a code (the device flow) instead of opening a browser")
	f.StringVar(&roleARN, "role-arn", "", "the role to assume (default: the profile's postern_role_arn)")
	f.BoolVar(&credProcess, "credential-process", false, "print the cached credentials as credential_process JSON (never opens a browser)")
	f.BoolVar(&configure, "configure", false, "write the profile's sign-in settings and credential_process, then stop")
	f.StringVar(&issuer, "issuer", "", "with --configure: the OpenID provider's issuer URL")
	f.StringVar(&clientID, "client-id", "", "with --configure: the OAuth client id registered for Postern at the provider")
	f.StringVar(&scopes, "scopes", "", "with --configure: the scopes to ask for (default: openid email profile offline_access)")
	f.StringVar(&oidcCA, "oidc-ca-bundle", "", "with --configure: a PEM file of certificates to trust for the provider")
	f.DurationVar(&timeout, "timeout", 10*time.Minute, "how long to wait for the sign-in")
	cmd.MarkFlagsMutuallyExclusive("configure", "credential-process")
	cmd.MarkFlagsMutuallyExclusive("no-browser", "credential-process")
	return cmd
}

func loginInteractive(ctx context.Context, env *Env, noBrowser bool, roleARN string, timeout time.Duration) error {
	sess, err := env.loginSession(ctx)
	if err != nil {
		return err
	}
	if err := env.withSTS(ctx, sess); err != nil {
		return err
	}
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	o := login.LoginOptions{RoleARN: roleARN, Out: env.Stdout, Open: login.OpenBrowser, Choose: env.chooseRole}
	if noBrowser {
		o.Method = login.Device
	}
	e, err := sess.Login(ctx, o)
	if err != nil {
		var ee *exitError
		if errors.As(err, &ee) {
			return err
		}
		return &exitError{code: ExitOther, msg: "postern login: " + err.Error()}
	}
	fmt.Fprintf(env.Stdout, "Signed in as %s to %s until %s.\n", e.Subject, e.RoleARN, e.Expiration.Local().Format(time.RFC1123))
	if v, _ := configValue(env.g.profile, "credential_process"); !strings.Contains(v, "--credential-process") {
		fmt.Fprintf(env.Stdout, "The profile has no credential_process for these credentials: run \"postern login --configure%s\" (see \"postern login --help\").\n", profileFlagText(env.g.profile))
	}
	return nil
}

// chooseRole asks which of roles to assume, reading a number from stdin.
func (env *Env) chooseRole(roles []string) (string, error) {
	fmt.Fprintln(env.Stdout, "The profile offers these roles:")
	for i, r := range roles {
		fmt.Fprintf(env.Stdout, "  %d) %s\n", i+1, r)
	}
	fmt.Fprintf(env.Stdout, "Role [1-%d]: ", len(roles))
	line, _ := bufio.NewReader(env.Stdin).ReadString('\n')
	n, err := strconv.Atoi(strings.TrimSpace(line))
	if err != nil || n < 1 || n > len(roles) {
		return "", usageErr("no role chosen: answer with a number from 1 to %d, or give --role-arn", len(roles))
	}
	return roles[n-1], nil
}

// processOutput is the AWS credential_process JSON.
type processOutput struct {
	Version         int
	AccessKeyID     string `json:"AccessKeyId"`
	SecretAccessKey string
	SessionToken    string
	Expiration      string
}

func loginCredentialProcess(ctx context.Context, env *Env) error {
	// A tool waits on this: renewal (and waiting for another program's)
	// is bounded.
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	sess, err := env.loginSession(ctx)
	if err != nil {
		return err
	}
	// The STS client is made only when the sign-in is to be renewed with
	// its refresh token: a fresh cache needs no endpoint. Credentials that
	// are still valid are handed out even if the renewal cannot be made.
	if e, err := sess.Cache.Load(sess.Profile); err == nil && e.RefreshToken != "" && time.Until(e.Expiration) <= login.DefaultRefreshWindow {
		if err := env.withSTS(ctx, sess); err != nil && !e.Expiration.After(time.Now()) {
			return err
		}
	}
	sess.RenewFailed = func(err error) {
		fmt.Fprintf(env.Stderr, "postern login --credential-process: could not renew the sign-in (%v); handing out the cached credentials until they expire\n", err)
	}
	e, err := sess.Credentials(ctx)
	if err != nil {
		msg := fmt.Sprintf("postern login --credential-process: %v\nRun \"postern login%s\" to sign in.", err, profileFlagText(sess.Profile))
		return &exitError{code: ExitConfig, msg: msg}
	}
	out, err := json.MarshalIndent(processOutput{
		Version:         1,
		AccessKeyID:     e.AccessKeyID,
		SecretAccessKey: e.SecretAccessKey,
		SessionToken:    e.SessionToken,
		Expiration:      e.Expiration.UTC().Format(time.RFC3339),
	}, "", "  ")
	if err != nil {
		return &exitError{code: ExitOther, msg: "postern login: " + err.Error()}
	}
	fmt.Fprintln(env.Stdout, string(out))
	return nil
}

// loginConfigure writes the profile's sign-in settings.
func loginConfigure(env *Env, issuer, clientID, roles, scopes, oidcCA string) error {
	if issuer == "" || clientID == "" || roles == "" {
		return usageErr("--configure needs --issuer, --client-id and --role-arn")
	}
	if !strings.HasPrefix(issuer, "https://") {
		return usageErr("--issuer %q: an OpenID provider's issuer is an https:// URL", issuer)
	}
	profile := profileName(env.g.profile)
	settings := [][2]string{
		{"postern_oidc_issuer", issuer},
		{"postern_oidc_client_id", clientID},
		{"postern_role_arn", roles},
		{"credential_process", credentialProcessCommand(profile)},
	}
	if scopes != "" {
		settings = append(settings, [2]string{"postern_oidc_scopes", scopes})
	}
	if oidcCA != "" {
		abs, err := filepath.Abs(oidcCA)
		if err != nil {
			return usageErr("--oidc-ca-bundle: %v", err)
		}
		settings = append(settings, [2]string{"postern_oidc_ca_bundle", abs})
	}
	for _, kv := range settings {
		if err := setConfigValue(env.g.profile, kv[0], kv[1]); err != nil {
			return &exitError{code: ExitOther, msg: "postern login --configure: " + err.Error()}
		}
	}
	fmt.Fprintf(env.Stdout, "Wrote the sign-in settings of the profile %s in %s.\n", profile, configFilePath())
	if v, _ := configValue(env.g.profile, "aws_access_key_id"); v != "" {
		fmt.Fprintf(env.Stdout, "Note: the profile also has an access key in %s, which AWS tools use before credential_process: remove it to run as the signed-in identity.\n", credentialsFilePath())
	}
	if v, _ := configValue(env.g.profile, "endpoint_url"); v == "" {
		fmt.Fprintf(env.Stdout, "The profile has no endpoint_url: run \"postern configure --server https://HOST:PORT%s\".\n", profileFlagText(env.g.profile))
	}
	fmt.Fprintf(env.Stdout, "Now sign in with \"postern login%s\".\n", profileFlagText(env.g.profile))
	return nil
}

// credentialProcessCommand is the profile's credential_process line:
// "postern" when that is this program on PATH, else this program's path.
func credentialProcessCommand(profile string) string {
	prog := "postern"
	self, err := os.Executable()
	if err == nil {
		self, _ = filepath.EvalSymlinks(self)
		onPath, perr := exec.LookPath("postern")
		if perr == nil {
			onPath, _ = filepath.EvalSymlinks(onPath)
		}
		if perr != nil || onPath != self {
			prog = shellQuote(self)
		}
	}
	return prog + " login --credential-process --profile " + shellQuote(profile)
}

func logoutCommand(env *Env) *cobra.Command {
	return &cobra.Command{
		Use:   "logout",
		Short: "Forget the profile's sign-in (the cached credentials and the provider's refresh token)",
		Long: `Forget the sign-in "postern login" cached for the profile: the role credentials and the
identity provider's refresh token in ~/.postern/login/PROFILE.json. The refresh token is revoked
at the provider first when it offers a revocation endpoint. Credentials already handed to a running
program stay valid until they expire.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			dir, err := login.DefaultCacheDir()
			if err != nil {
				return &exitError{code: ExitConfig, msg: "postern logout: " + err.Error()}
			}
			sess := &login.Session{Profile: profileName(env.g.profile), Cache: login.Cache{Dir: dir}}
			if s, err := readLoginSettings(env.g.profile); err == nil {
				if hc, err := providerHTTPClient(s.caBundle, env.g.noVerifySSL); err == nil {
					sess.Provider = login.ProviderConfig{Issuer: s.issuer, ClientID: s.clientID, ClientSecret: s.clientSecret, Scopes: s.scopes, HTTPClient: hc}
				}
			}
			had, err := sess.Logout(cmd.Context())
			if err != nil {
				return &exitError{code: ExitOther, msg: "postern logout: " + err.Error()}
			}
			if had {
				fmt.Fprintf(env.Stdout, "Signed out of the profile %s.\n", sess.Profile)
			} else {
				fmt.Fprintf(env.Stdout, "The profile %s was not signed in.\n", sess.Profile)
			}
			return nil
		},
	}
}
