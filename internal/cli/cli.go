// Package cli is the `postern` command tree. Beside Postern's own commands
// (server, version, …) it offers the AWS CLI's service commands — `postern
// iam create-user --user-name alice`, `postern sts get-caller-identity`,
// `postern ec2 describe-instance-connect-endpoints --filters …` — generated
// by reflection from the AWS SDK for Go v2 clients, so command and flag
// names, request serialisation, signing, credentials, region and endpoint
// resolution are exactly the SDK's, and the output is the AWS CLI's JSON.
//
// The whole command tree is built in one place, tree.go; Main is callable
// from tests: it takes its arguments and streams.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// Exit codes, as the AWS CLI uses them.
const (
	ExitOK          = 0
	ExitUsage       = 252 // bad arguments
	ExitConfig      = 253 // configuration, e.g. no credentials
	ExitServiceFail = 254 // the service returned an error
	ExitOther       = 255
	ExitInterrupted = 130 // Ctrl-C: 128 + SIGINT, as the AWS CLI's KeyboardInterrupt
)

// Signalled is the cause with which cmd/postern cancels a command's
// context when a signal arrives, so that Main can tell Ctrl-C from
// SIGTERM or SIGHUP.
type Signalled struct{ Signal os.Signal }

func (s Signalled) Error() string { return s.Signal.String() + " signal received" }

// interrupted reports whether ctx ended with SIGINT while cmd ran a client
// command. The server and the endpoint agent shut down gracefully on it
// and exit as usual; any other command ends as the AWS CLI does on
// Ctrl-C: whatever it was doing (a waiter's sleep, a tunnel), exit 130
// with a newline on stdout and no error message.
func interrupted(ctx context.Context, cmd *cobra.Command) bool {
	var s Signalled
	if !errors.As(context.Cause(ctx), &s) || s.Signal != os.Interrupt {
		return false
	}
	for c := cmd; c != nil && c.HasParent(); c = c.Parent() {
		if !c.Parent().HasParent() && (c.Name() == "server" || c.Name() == "endpoint-agent") {
			return false
		}
	}
	return true
}

// Version is the build's version, set by the linker when released.
var Version = "0.1.0-dev"

// exitError carries an exit code and a message already worded for stderr.
type exitError struct {
	code int
	msg  string
}

func (e *exitError) Error() string { return e.msg }

func usageErr(format string, args ...any) error {
	return &exitError{code: ExitUsage, msg: "postern: error: " + fmt.Sprintf(format, args...)}
}

// actionCommand is a command that takes no positional arguments and runs
// run with the command's context.
func actionCommand(use, short string, run func(ctx context.Context) error) *cobra.Command {
	return &cobra.Command{
		Use:   use,
		Short: short,
		Args:  cobra.NoArgs,
		RunE:  func(cmd *cobra.Command, _ []string) error { return run(cmd.Context()) },
	}
}

// newLogger logs text to w at level (--log-level: debug, info, warn or
// error); the level can be changed later through the LevelVar.
func newLogger(w io.Writer, level string) (*slog.Logger, *slog.LevelVar, error) {
	lv := new(slog.LevelVar)
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, nil, usageErr("--log-level %q: %v", level, err)
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: lv})), lv, nil
}

// globals are the AWS CLI's global options.
type globals struct {
	profile, region, endpointURL, output, caBundle string
	noVerifySSL, debug                             bool
	// output options (clientopts.go)
	query                       *jmesQuery
	color                       string
	noPager                     bool
	readTimeout, connectTimeout int
}

// Env is what hand-written commands get: the streams, the global options
// and a way to load the AWS configuration they imply.
type Env struct {
	Stdin          io.Reader
	Stdout, Stderr io.Writer
	g              *globals
}

// Main runs the postern command line and returns the process exit code.
func Main(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	env := &Env{Stdin: stdin, Stdout: stdout, Stderr: stderr, g: &globals{}}
	root := commandTree(env, args)
	if bad := unknownGlobalOption(root, args); bad != "" {
		// Left to cobra, an unknown option before the command would take
		// the command as its value.
		fmt.Fprintln(stderr, "postern: error: Unknown options: "+bad)
		return ExitUsage
	}
	root.SetArgs(expandListArgs(root, args))
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	cmd, err := root.ExecuteContextC(ctx)
	if interrupted(ctx, cmd) {
		fmt.Fprintln(stdout)
		return ExitInterrupted
	}
	if err == nil {
		return ExitOK
	}
	var ee *exitError
	if errors.As(err, &ee) {
		if ee.msg != "" {
			fmt.Fprintln(stderr, ee.msg)
		}
		return ee.code
	}
	// Errors from cobra itself: unknown commands and flags.
	fmt.Fprintln(stderr, "postern: error: "+flagErrorText(err))
	return ExitUsage
}

// flagErrorText words an option the parser refused as the AWS CLI's
// argument parser words it: "Unknown options: --bogus", "argument
// --user-name: expected one argument", "argument --output: Invalid
// choice, …", "argument --max-items: invalid int value: 'x'".
func flagErrorText(err error) string {
	var notExist *pflag.NotExistError
	var noValue *pflag.ValueRequiredError
	var invalid *pflag.InvalidValueError
	switch {
	case errors.As(err, &notExist):
		if short := notExist.GetSpecifiedShortnames(); short != "" {
			return "Unknown options: -" + short
		}
		return "Unknown options: --" + notExist.GetSpecifiedName()
	case errors.As(err, &noValue):
		return "argument --" + noValue.GetFlag().Name + ": expected one argument"
	case errors.As(err, &invalid):
		name, value := invalid.GetFlag().Name, invalid.GetValue()
		var num *strconv.NumError
		switch {
		case errors.As(invalid, &num) && num.Func == "ParseBool":
			return fmt.Sprintf("argument --%s: ignored explicit argument '%s'", name, value)
		case errors.As(invalid, &num):
			return fmt.Sprintf("argument --%s: invalid int value: '%s'", name, value)
		}
		msg := errors.Unwrap(invalid).Error()
		if strings.HasPrefix(msg, "Bad value for --") { // --query's own wording
			return msg
		}
		return "argument --" + name + ": " + msg
	}
	return err.Error()
}

// maxParamFile bounds what a file:// or fileb:// argument may hold (the
// server takes at most 2 MiB a request): file:///dev/zero, or a file
// named by mistake, is refused rather than read until memory runs out.
const maxParamFile = 16 << 20

// readFileArg implements the AWS CLI's file:// and fileb:// prefixes.
func readFileArg(v string) (string, error) {
	for _, p := range []string{"file://", "fileb://"} {
		if path, ok := strings.CutPrefix(v, p); ok {
			b, err := readBounded(path, maxParamFile)
			if err != nil {
				return "", usageErr("Unable to load paramfile %s: %v", v, err)
			}
			return string(b), nil
		}
	}
	return v, nil
}

// readBounded reads the file at path, refusing one longer than limit bytes.
func readBounded(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("the file is larger than %d MiB", limit>>20)
	}
	return b, nil
}
