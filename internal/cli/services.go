package cli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"reflect"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/smithy-go"
	"github.com/aws/smithy-go/logging"
	"github.com/spf13/cobra"

	"github.com/postern/postern/internal/cli/served"
	"github.com/postern/postern/internal/util/sdkreq"
)

// service is one AWS service whose SDK client the CLI reflects over.
type service struct {
	name  string // the AWS CLI's service command
	short string
	// client makes the SDK client for cfg, with endpoint as its
	// BaseEndpoint when not empty.
	client func(cfg aws.Config, endpoint string) any
	// commands are hand-written subcommands beside the reflected ones
	// (Postern's own actions, the AWS CLI's customizations).
	commands []func(env *Env) *cobra.Command
	// tweaks add options to reflected operations, by operation name.
	tweaks map[string]tweak
}

func setEndpoint(dst **string, ep string) {
	if ep != "" {
		*dst = aws.String(ep)
	}
}

// LoadAWSConfig loads the AWS configuration as AWS tools do: environment,
// shared config and credentials files, and the global options.
func (env *Env) LoadAWSConfig(ctx context.Context) (aws.Config, error) {
	if err := checkConfigFiles(); err != nil {
		return aws.Config{}, &exitError{code: ExitOther, msg: "postern: error: " + err.Error()}
	}
	var opts []func(*awsconfig.LoadOptions) error
	if env.g.profile != "" {
		opts = append(opts, awsconfig.WithSharedConfigProfile(env.g.profile))
	}
	if env.g.region != "" {
		opts = append(opts, awsconfig.WithRegion(env.g.region))
	}
	bundle, err := caBundle(ctx, env.g)
	if err != nil {
		return aws.Config{}, &exitError{code: ExitConfig, msg: "postern: error: " + err.Error()}
	}
	if bundle != nil {
		opts = append(opts, awsconfig.WithCustomCABundle(bytes.NewReader(bundle)))
	}
	opts = append(opts, awsconfig.WithHTTPClient(httpClient(env.g)))
	if env.g.debug {
		// --debug: the SDK logs each request and response to stderr, as
		// the AWS CLI's --debug does.
		opts = append(opts, awsconfig.WithLogger(logging.NewStandardLogger(env.Stderr)),
			awsconfig.WithClientLogMode(aws.LogRequestWithBody|aws.LogResponseWithBody|aws.LogRetries))
	} else {
		// The SDK's own warnings (e.g. the instance metadata service's
		// answer while it looks for credentials) are not the user's
		// business: a missing setting is said once, in postern's words.
		opts = append(opts, awsconfig.WithLogger(logging.Nop{}))
	}
	cfg, err := awsconfig.LoadDefaultConfig(ctx, opts...)
	var noProfile awsconfig.SharedConfigProfileNotExistError
	if errors.As(err, &noProfile) {
		// 255, as the AWS CLI: botocore's ProfileNotFound is none of the
		// configuration errors it maps to 253.
		return aws.Config{}, &exitError{code: ExitOther, msg: fmt.Sprintf("\nThe config profile (%s) could not be found. "+
			"Set it up with \"postern configure --profile %s\" (and --server for its Postern server).", noProfile.Profile, noProfile.Profile)}
	}
	if err != nil {
		return aws.Config{}, &exitError{code: ExitConfig, msg: "postern: error: " + err.Error()}
	}
	cfg.Credentials = withNoCredentialsMark(cfg.Credentials)
	// Every request says which postern sent it, as the AWS CLI's say
	// aws-cli/VERSION.
	cfg.APIOptions = append(cfg.APIOptions, awsmiddleware.AddUserAgentKeyValue("postern", Version),
		sdkreq.BodyWithoutWriteTo)
	if !endpointConfigured(cfg, env.g.endpointURL, env.g.profile) {
		return aws.Config{}, &exitError{code: ExitConfig, msg: noEndpointMessage()}
	}
	if cfg.Region == "" {
		return aws.Config{}, &exitError{code: ExitConfig, msg: "You must specify a region. " + hintRegion}
	}
	noRetryOnDial(&cfg)
	return cfg, nil
}

// caBundle returns the CA certificates to trust beyond the SDK's own
// resolution, or nil to leave it to the SDK: --ca-bundle; or, when
// AWS_CA_BUNDLE is set and the profile has its own ca_bundle, both files.
// (The SDK lets the variable hide the profile's bundle; a machine-wide
// AWS_CA_BUNDLE would then make a Postern profile unusable.)
func caBundle(ctx context.Context, g *globals) ([]byte, error) {
	if g.caBundle != "" {
		b, err := os.ReadFile(g.caBundle)
		if err != nil {
			return nil, fmt.Errorf("--ca-bundle: %w", err)
		}
		return b, nil
	}
	envBundle := os.Getenv("AWS_CA_BUNDLE")
	if envBundle == "" {
		return nil, nil
	}
	profile := g.profile
	if profile == "" {
		profile = profileEnv()
	}
	if profile == "" {
		profile = "default"
	}
	sc, err := awsconfig.LoadSharedConfigProfile(ctx, profile, func(o *awsconfig.LoadSharedConfigOptions) {
		if f := os.Getenv("AWS_CONFIG_FILE"); f != "" {
			o.ConfigFiles = []string{f}
		}
		if f := os.Getenv("AWS_SHARED_CREDENTIALS_FILE"); f != "" {
			o.CredentialsFiles = []string{f}
		}
	})
	if err != nil || sc.CustomCABundle == "" || sc.CustomCABundle == envBundle {
		return nil, nil
	}
	var all []byte
	for _, path := range []string{sc.CustomCABundle, envBundle} {
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("CA bundle: %w", err)
		}
		all = append(append(all, b...), '\n')
	}
	return all, nil
}

// EndpointURL is the --endpoint-url option ("" when unset).
func (env *Env) EndpointURL() string { return env.g.endpointURL }

// operation is one SDK client method.
type operation struct {
	name   string // "CreateUser"
	method reflect.Value
	input  reflect.Type // the Input struct type (not pointer)
}

// servedOperations are the client's API operations the server serves
// for service (served.Operations), in served.Operations' order: each is
// the SDK client's method named in sdkops.go (sdkOperation), never one
// looked up by a name known only when the program runs. A reachable
// reflect method lookup by such a name (reflect's Method, MethodByName;
// text/template's execution too, see versionFirst) makes the linker keep
// every exported method of every type the program can reach: all ~750
// operations of ec2's client with their serializers, and the rest of the
// SDK's. Without one the client build is 24 MB instead of 72 (the full
// build 47 instead of 96), and every process starts with ~100 fewer page
// faults and a quarter of the interface tables (~1 ms less CPU for ssh's
// ProxyCommand; TestBuildsLinkOnlyServedOperations in cmd/postern).
func servedOperations(client any, service string) []operation {
	var ops []operation
	for _, name := range served.Operations[service] { // sorted
		if method := sdkOperation(service, name); method != nil {
			if op, ok := operationOf(name, reflect.ValueOf(method(client))); ok {
				ops = append(ops, op)
			}
		}
	}
	return ops
}

// operationOf is method (an SDK client's method, bound to the client)
// as the operation name, if it is shaped as one:
// func(ctx, *XInput, ...func(*Options)) (*XOutput, error).
func operationOf(name string, method reflect.Value) (operation, bool) {
	ctxType := reflect.TypeFor[context.Context]()
	errType := reflect.TypeFor[error]()
	mt := method.Type()
	if mt.Kind() != reflect.Func || mt.NumIn() != 3 || !mt.IsVariadic() || mt.NumOut() != 2 || mt.In(0) != ctxType || mt.Out(1) != errType {
		return operation{}, false
	}
	in := mt.In(1)
	if in.Kind() != reflect.Pointer || in.Elem().Kind() != reflect.Struct || !strings.HasSuffix(in.Elem().Name(), "Input") {
		return operation{}, false
	}
	return operation{name: name, method: method, input: in.Elem()}, true
}

// serviceCommand builds `postern <service>` with its hand-written commands
// and one subcommand per SDK operation the server serves. Names must not
// repeat (TestCommandNamesUnique): a hand-written command never hides an
// SDK operation. op is the word given after the service ("" when none is
// known): when it names one of the hand-written commands, only those are
// built — reflecting over the SDK client's operations and their
// documentation is most of the tree's cost, paid in every
// `ec2-instance-connect open-tunnel` process ssh's ProxyCommand starts.
func serviceCommand(env *Env, svc service, op string) *cobra.Command {
	// The AWS operations Postern does not serve, by kebab name: only a
	// word that is none of the service's commands asks for them.
	sdkOps := sync.OnceValue(func() map[string]bool {
		ops := map[string]bool{}
		for _, name := range sdkOperationNames(svc.name) {
			if !served.Serves(svc.name, name) {
				ops[kebab(name)] = true
			}
		}
		return ops
	})
	isSDKOp := func(word string) bool { return sdkOps()[word] }
	cmd := &cobra.Command{Use: svc.name, Short: svc.short,
		// A mistyped operation is an error, not the service's help.
		Args: unknownOperation(svc.name, isSDKOp),
		// `postern ec2` alone is a usage error, as `aws ec2`.
		RunE: requireWord("operation"),
	}
	// An operation's options after a mistyped operation's name are unknown
	// to the service: the mistyped name is the error to report.
	cmd.SetFlagErrorFunc(func(cmd *cobra.Command, err error) error {
		if words := cmd.Flags().Args(); len(words) > 0 {
			if e := unknownOperation(svc.name, isSDKOp)(cmd, words[:1]); e != nil {
				return e
			}
		}
		return err
	})
	handWritten := false
	for _, c := range svc.commands {
		sub := c(env)
		handWritten = handWritten || op != "" && (sub.Name() == op || sub.HasAlias(op))
		cmd.AddCommand(sub)
	}
	if handWritten {
		return cmd
	}
	// Only what the server serves is offered (served.Operations).
	for _, op := range servedOperations(svc.client(aws.Config{}, ""), svc.name) {
		cmd.AddCommand(operationCommand(env, svc, op))
	}
	return cmd
}

func operationCommand(env *Env, svc service, op operation) *cobra.Command {
	fields := inputFields(op.input)
	doc := operationDoc(svc.name, op.name)
	for i := range fields {
		fields[i].doc = doc.Params[fields[i].member]
	}
	short := firstSentence(doc.Doc)
	if short == "" {
		short = op.name + " (" + svc.name + ")"
	}
	var pg pagination
	var skel skeletonOptions
	cmd := &cobra.Command{
		Use:   kebab(op.name),
		Short: short,
		Long:  doc.Doc,
		Args:  skel.args(helpOrNoArgs),
		RunE: func(cmd *cobra.Command, args []string) error {
			skel.takeArgs(cmd, &args)
			if len(args) > 0 { // `postern ec2 describe-vpcs help`, as the AWS CLI's
				return cmd.Help()
			}
			if cmd.Flags().Changed("generate-cli-skeleton") {
				return printSkeleton(env, &skel, svc.name, op)
			}
			in := reflect.New(op.input)
			// The input document first: the options override its members.
			if err := skel.loadInput(svc.name, op.name, in.Elem()); err != nil {
				return err
			}
			for _, f := range fields {
				if err := f.apply(cmd, in.Elem()); err != nil {
					return err
				}
			}
			if tw, ok := svc.tweaks[op.name]; ok {
				if err := tw.apply(cmd, in.Elem()); err != nil {
					return err
				}
			}
			out, err := callAPI(cmd.Context(), env, op.name, func(cfg aws.Config) (reflect.Value, error) {
				method := reflect.ValueOf(sdkOperation(svc.name, op.name)(svc.client(cfg, env.g.endpointURL)))
				return pg.run(cmd.Context(), method, in)
			})
			if err != nil {
				return err
			}
			if tw, ok := svc.tweaks[op.name]; ok && tw.output != nil {
				if err := tw.output(cmd, out); err != nil {
					return err
				}
			}
			return printResult(env.Stdout, env.g, op.name, modelOutput{service: svc.name, shape: op.name + "Output", v: out, pages: pg.pages})
		},
	}
	if paginates(op.input) {
		pg.register(cmd)
	}
	skel.register(cmd)
	if tw, ok := svc.tweaks[op.name]; ok {
		tw.register(cmd)
	}
	kept := fields[:0]
	for _, f := range fields {
		// The paging options stand for the input's own (IAM's MaxItems).
		if cmd.Flags().Lookup(f.name) != nil || cmd.Flags().Lookup("no-"+f.name) != nil {
			continue
		}
		f.register(cmd)
		kept = append(kept, f)
	}
	fields = kept
	cmd.SetHelpFunc(func(cmd *cobra.Command, _ []string) { operationHelp(cmd, doc, fields) })
	return cmd
}

// callAPI loads the AWS configuration, calls op with it, and words op's
// error as the AWS CLI does.
func callAPI[T any](ctx context.Context, env *Env, op string, call func(cfg aws.Config) (T, error)) (T, error) {
	var zero T
	cfg, err := env.LoadAWSConfig(ctx)
	if err != nil {
		return zero, err
	}
	out, err := call(cfg)
	if err != nil {
		return zero, apiError(op, err)
	}
	return out, nil
}

// apiError words an error as the AWS CLI does.
func apiError(op string, err error) error {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return &exitError{code: ExitServiceFail, msg: describeAPIError(op, ae, err)}
	}
	if errors.Is(err, errNoCredentials) {
		return &exitError{code: ExitConfig, msg: "\nUnable to locate credentials. " + hintConfigure}
	}
	if msg := transportError(op, err); msg != "" {
		return &exitError{code: ExitOther, msg: msg}
	}
	var ee *exitError
	if errors.As(err, &ee) {
		return ee
	}
	return &exitError{code: ExitOther, msg: "\n" + err.Error()}
}
