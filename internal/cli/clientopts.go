package cli

import (
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"os"
	"slices"
	"strings"
	"time"

	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/spf13/pflag"
)

// registerOutputFlags adds the AWS CLI's global options about output and
// the HTTP connection: --output, --query, --color, --no-cli-pager,
// --cli-read-timeout and --cli-connect-timeout.
func registerOutputFlags(pf *pflag.FlagSet, g *globals) {
	g.color = "auto"
	pf.Var(choiceValue{&g.output, outputFormats}, "output", "the output format: json, text, table, yaml or yaml-stream (default: AWS_DEFAULT_OUTPUT, the profile's output, or json)")
	pf.Var(queryValue{&g.query}, "query", "a JMESPath query to filter the response data")
	pf.Var(choiceValue{&g.color, []string{"on", "off", "auto"}}, "color", "colour in table output: on, off or auto (on a terminal)")
	pf.BoolVar(&g.noPager, "no-cli-pager", false, "do not page the output (Postern never pages: accepted for the AWS CLI's sake)")
	pf.IntVar(&g.readTimeout, "cli-read-timeout", 60, "the longest wait in seconds for an answer on an open connection; 0 waits for ever")
	pf.IntVar(&g.connectTimeout, "cli-connect-timeout", 60, "the longest wait in seconds to connect; 0 waits for ever")
}

// httpClient is the SDK's HTTP client with the connection options: the
// timeouts and --no-verify-ssl.
func httpClient(g *globals) *awshttp.BuildableClient {
	connect := time.Duration(max(g.connectTimeout, 0)) * time.Second
	read := time.Duration(max(g.readTimeout, 0)) * time.Second
	return awshttp.NewBuildableClient().
		WithDialerOptions(func(d *net.Dialer) { d.Timeout = connect }).
		WithTransportOptions(func(t *http.Transport) {
			t.TLSHandshakeTimeout = connect
			t.ResponseHeaderTimeout = read
			if g.noVerifySSL {
				t.TLSClientConfig = &tls.Config{InsecureSkipVerify: true} //nolint:gosec // the user asked for --no-verify-ssl
			}
		})
}

// outputFormat is --output, or else AWS_DEFAULT_OUTPUT, or else the
// profile's output setting, or else json, as the AWS CLI chooses.
func (g *globals) outputFormat() (string, error) {
	if g.output != "" {
		return g.output, nil
	}
	from, v := "AWS_DEFAULT_OUTPUT", os.Getenv("AWS_DEFAULT_OUTPUT")
	if v == "" {
		from = "the profile's output setting"
		v, _ = configValue(g.profile, "output")
	}
	if v == "" {
		return "json", nil
	}
	if !slices.Contains(outputFormats, v) {
		return "", &exitError{code: ExitConfig, msg: fmt.Sprintf("postern: error: %s is %q; valid output formats are %s (see \"postern configure\")", from, v, strings.Join(outputFormats, ", "))}
	}
	return v, nil
}
