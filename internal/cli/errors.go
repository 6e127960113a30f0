package cli

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/postern/postern/internal/client"
	"github.com/postern/postern/internal/wire/awsproto"
	"github.com/postern/postern/internal/wire/sigv4"
)

// The messages a person can act on: each failure the CLI can recognise is
// worded on one line that names the operation the user asked for and says
// what to do, with the `postern` command that does it.

// Settings hints, named in every message about a missing setting.
const (
	hintConfigure = `You can configure credentials by running "postern configure".`
	hintRegion    = `You can also configure your region by running "postern configure".`
	hintServer    = `Set the Postern server with "postern configure --server https://HOST:PORT" (or --endpoint-url).`
)

// errNoEndpoint: no endpoint is configured and the profile does not opt
// in to AWS's public endpoints.
var errNoEndpoint = errors.New("no endpoint configured")

// allowAWSKey is the profile key that lets a call without endpoint_url go
// to AWS's public endpoints ("postern_allow_aws = true"); the environment
// variable POSTERN_ALLOW_AWS=true does the same.
const allowAWSKey = "postern_allow_aws"

// noEndpointMessage is the refusal when no endpoint is configured.
func noEndpointMessage() string {
	return "\nNo Postern server is configured, and calls to AWS's public endpoints are not made unless asked for. " + hintServer +
		` To call AWS itself, set "` + allowAWSKey + ` = true" in the profile (postern configure set ` + allowAWSKey + ` true).`
}

// endpointConfigured reports whether cfg (with the --endpoint-url flag
// flagURL) names an endpoint, or the profile opts in to AWS.
func endpointConfigured(cfg aws.Config, flagURL, profile string) bool {
	if flagURL != "" || aws.ToString(cfg.BaseEndpoint) != "" {
		return true
	}
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "AWS_ENDPOINT_URL_") && !strings.HasSuffix(kv, "=") {
			return true
		}
	}
	if isTrue(os.Getenv("POSTERN_ALLOW_AWS")) {
		return true
	}
	v, _ := configValue(profile, allowAWSKey)
	return isTrue(v)
}

func isTrue(s string) bool {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "true", "1", "yes":
		return true
	}
	return false
}

// noRetryOnDial makes the retryer give up at once on failures a retry
// cannot mend: a refused connection, an unknown host, a certificate the
// client does not trust. (The SDK would retry them for about 2 s.)
func noRetryOnDial(cfg *aws.Config) {
	max := cfg.RetryMaxAttempts
	cfg.Retryer = func() aws.Retryer {
		return retry.NewStandard(func(o *retry.StandardOptions) {
			o.Retryables = append([]retry.IsErrorRetryable{retry.IsErrorRetryableFunc(func(err error) aws.Ternary {
				if dialReason(err) != "" || tlsTrustFailure(err) {
					return aws.FalseTernary
				}
				return aws.UnknownTernary
			})}, o.Retryables...)
			if max > 0 {
				o.MaxAttempts = max
			}
		})
	}
}

// dialReason words why a connection could not be made, or "" when err is
// not such a failure.
func dialReason(err error) string {
	var dns *net.DNSError
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused"
	case errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH):
		return "host unreachable"
	case errors.As(err, &dns):
		return "unknown host " + dns.Name
	}
	return ""
}

// tlsTrustFailure reports whether err is a certificate the client does not
// trust.
func tlsTrustFailure(err error) bool {
	var ua x509.UnknownAuthorityError
	var cv *tls.CertificateVerificationError
	var hn x509.HostnameError
	var ci x509.CertificateInvalidError
	return errors.As(err, &ua) || errors.As(err, &cv) || errors.As(err, &hn) || errors.As(err, &ci)
}

// endpointOf is the URL a failed request went to, as the AWS CLI shows it
// (scheme, host and path), or "" when unknown.
func endpointOf(err error) string {
	var ue *url.Error
	if !errors.As(err, &ue) {
		return ""
	}
	u, perr := url.Parse(ue.URL)
	if perr != nil {
		return ue.URL
	}
	u.RawQuery = ""
	if u.Path == "" {
		u.Path = "/"
	}
	return u.String()
}

// serverOf is scheme://host of an endpoint URL.
func serverOf(endpoint string) string {
	u, err := url.Parse(endpoint)
	if err != nil || u.Host == "" {
		return "https://HOST:PORT"
	}
	return "https://" + u.Host
}

// transportError words a failure to reach the server, or returns "" when
// err is not one.
func transportError(op string, err error) string {
	ep := endpointOf(err)
	if r := dialReason(err); r != "" {
		return fmt.Sprintf("\nCould not connect to the endpoint URL: %q (%s) when calling the %s operation. Is the Postern server running there? %s", ep, r, op, hintServer)
	}
	if tlsTrustFailure(err) {
		trust := fmt.Sprintf("Trust the server's CA (ca.pem in its data directory) with --ca-bundle FILE, or run \"postern configure --server %s\" to fetch it.", serverOf(ep))
		return fmt.Sprintf("\nSSL validation failed for %s when calling the %s operation: the server's certificate is not signed by a trusted CA. %s", ep, op, trust)
	}
	if kind := timeoutKind(err); kind != "" {
		// The AWS CLI's "Read timeout on endpoint URL" / "Connect
		// timeout on endpoint URL", with the operation and what to do.
		return fmt.Sprintf("\n%s timeout on endpoint URL: %q when calling the %s operation. Is the Postern server there answering? "+
			"Wait longer with --cli-%s-timeout SECONDS (0 waits for ever).", kind, ep, op, strings.ToLower(kind))
	}
	return ""
}

// timeoutKind is "Connect" for a connection that was not made in time,
// "Read" for an answer that did not come in time (--cli-connect-timeout,
// --cli-read-timeout), "" for other errors.
func timeoutKind(err error) string {
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		return ""
	}
	var oe *net.OpError
	if errors.As(err, &oe) && oe.Op == "dial" {
		return "Connect"
	}
	return "Read"
}

// wrongRegionRe reads the region(s) a server serves from its refusal of a
// request signed for another ("Credential should be scoped to a valid
// region. This server serves region 'R'."). Only for servers that do not
// name their regions in awsproto.HeaderRegions (older ones), and for
// tunnel refusals, which do not carry it.
var wrongRegionRe = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`serves region '([^']+)'`) })

// serviceHint adds to an error's code and message what the user can do
// about it: the server's region, the clock. It returns "" when it has
// nothing to add. It reads the message: apiHint uses it only for answers
// of servers that do not name their regions.
func serviceHint(code, msg string) string {
	if strings.Contains(msg, "scoped to a valid region. ") {
		if m := wrongRegionRe().FindStringSubmatch(msg); m != nil {
			return regionHint(m[1])
		}
		return " Use the server's region with --region, or run \"postern configure set region REGION\"."
	}
	return clockHint(code, msg)
}

// regionHint names the region the server serves.
func regionHint(region string) string {
	return fmt.Sprintf(" Use --region %s, or run \"postern configure set region %s\".", region, region)
}

// clockHint names the clock when the signature was refused for its time.
func clockHint(code, msg string) string {
	if code == "RequestExpired" || strings.HasPrefix(msg, "Signature expired") || strings.HasPrefix(msg, "Signature not yet current") {
		return " This machine's clock differs from the server's by more than the signature allows: set the clock (e.g. enable NTP) and retry."
	}
	return ""
}

// apiHint is serviceHint for err, an API call's failure with code and
// msg. A server that names the regions it accepts (awsproto.HeaderRegions)
// says in a typed way whether the request was refused for its region:
// its signature was refused (SignatureDoesNotMatch) and the region it was
// signed for, read from its Authorization header, is not one of them; the
// hint then names the server's own region (the first). Answers without
// the header (older servers) fall back to reading the message.
func apiHint(err error, code, msg string) string {
	regions, signed := answerRegions(err)
	if regions == nil || signed == "" {
		return serviceHint(code, msg)
	}
	return typedHint(regions, signed, code, msg)
}

// refusalHint is apiHint for a refused tunnel whose URL was presigned
// for region: the refusal's header names the regions the server accepts.
func refusalHint(re *client.RefusedError, region string) string {
	regions := awsproto.ParseRegions(re.Header.Get(awsproto.HeaderRegions))
	if regions == nil || region == "" {
		return serviceHint(re.ErrorCode, re.Message)
	}
	return typedHint(regions, region, re.ErrorCode, re.Message)
}

// typedHint is the hint for a refusal with code and msg of a request
// signed for region signed, by a server that accepts regions (its own
// first): its signature refused (SignatureDoesNotMatch from the API,
// InvalidSignatureException from openTunnel) for a region it does not
// accept names the server's region; otherwise the clock, if at all.
func typedHint(regions []string, signed, code, msg string) string {
	if (code == "SignatureDoesNotMatch" || code == "InvalidSignatureException") && !slices.Contains(regions, signed) {
		return regionHint(regions[0])
	}
	return clockHint(code, msg)
}

// answerRegions returns, for an API call's failure, the regions its
// answer says the server accepts (nil without awsproto.HeaderRegions) and
// the region the request was signed for ("" when unknown).
func answerRegions(err error) (regions []string, signed string) {
	var hr interface{ HTTPResponse() *smithyhttp.Response }
	if !errors.As(err, &hr) {
		return nil, ""
	}
	resp := hr.HTTPResponse()
	if resp == nil || resp.Response == nil {
		return nil, ""
	}
	regions = awsproto.ParseRegions(resp.Header.Get(awsproto.HeaderRegions))
	if resp.Request == nil {
		return regions, ""
	}
	auth, perr := sigv4.ParseAuthorization(resp.Request.Header.Get("Authorization"))
	if perr != nil {
		return regions, ""
	}
	return regions, auth.Scope.Region
}

// describeAPIError words an AWS error as the AWS CLI does, with the hint;
// err is the call's whole error, ae the API error in it.
func describeAPIError(op string, ae smithy.APIError, err error) string {
	return fmt.Sprintf("\nAn error occurred (%s) when calling the %s operation: %s%s", ae.ErrorCode(), op, ae.ErrorMessage(),
		apiHint(err, ae.ErrorCode(), ae.ErrorMessage()))
}
