package cli

import (
	"context"
	"errors"
	"fmt"
	"math"
	"reflect"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/smithy-go"
	"github.com/spf13/cobra"
)

// `postern ec2 wait`: the waiters for Instance Connect Endpoints, worded
// and exiting as the AWS CLI's waiters do (255 on failure or when the
// attempts run out). AWS's EC2 model defines no waiter for these
// resources; these follow the model's shape for the other EC2 resources
// (a Describe call per attempt, a JMESPath-like "all"/"any" match on
// InstanceConnectEndpoints[].State).

// waiter is one waiter: its name, and how one answer decides.
type waiter struct {
	name   string // InstanceConnectEndpointAvailable
	decide func(out *ec2.DescribeInstanceConnectEndpointsOutput, err error) (waitOutcome, string)
}

type waitOutcome int

const (
	waitRetry waitOutcome = iota
	waitSuccess
	waitFailure
)

// stateMatch returns whether all (or any) of the endpoints' states is one
// of states; "all" is false for no endpoints, as in the AWS CLI.
func stateMatch(eps []ec2types.Ec2InstanceConnectEndpoint, all bool, states ...string) (bool, string) {
	if len(eps) == 0 {
		return false, ""
	}
	for _, e := range eps {
		in := false
		for _, s := range states {
			if string(e.State) == s {
				in = true
			}
		}
		if in && !all {
			return true, string(e.State)
		}
		if !in && all {
			return false, ""
		}
	}
	return all, states[0]
}

func failureText(state string) string {
	return fmt.Sprintf("Waiter encountered a terminal failure state: For expression \"InstanceConnectEndpoints[].State\" we matched expected path: %q at least once", state)
}

var endpointWaiters = []waiter{
	{name: "InstanceConnectEndpointAvailable", decide: func(out *ec2.DescribeInstanceConnectEndpointsOutput, err error) (waitOutcome, string) {
		if err != nil {
			return waitFailure, ""
		}
		if ok, _ := stateMatch(out.InstanceConnectEndpoints, true, "create-complete"); ok {
			return waitSuccess, ""
		}
		if ok, s := stateMatch(out.InstanceConnectEndpoints, false, "create-failed", "delete-in-progress", "delete-complete", "delete-failed"); ok {
			return waitFailure, failureText(s)
		}
		return waitRetry, ""
	}},
	{name: "InstanceConnectEndpointDeleted", decide: func(out *ec2.DescribeInstanceConnectEndpointsOutput, err error) (waitOutcome, string) {
		var ae smithy.APIError
		if errors.As(err, &ae) && ae.ErrorCode() == "InvalidInstanceConnectEndpointId.NotFound" {
			return waitSuccess, ""
		}
		if err != nil {
			return waitFailure, ""
		}
		if ok, _ := stateMatch(out.InstanceConnectEndpoints, true, "delete-complete"); ok {
			return waitSuccess, ""
		}
		if ok, s := stateMatch(out.InstanceConnectEndpoints, false, "delete-failed"); ok {
			return waitFailure, failureText(s)
		}
		return waitRetry, ""
	}},
}

// waitCommand is `postern ec2 wait`.
func waitCommand(env *Env) *cobra.Command {
	cmd := &cobra.Command{Use: "wait", Short: "Wait until an Instance Connect Endpoint is available or deleted"}
	for _, w := range endpointWaiters {
		cmd.AddCommand(waiterCommand(env, w))
	}
	return cmd
}

// waiterCommand is one waiter. Its options are
// DescribeInstanceConnectEndpoints' (with --cli-input-json and
// --generate-cli-skeleton), as the AWS CLI's waiters take their
// operation's, and --delay and --max-attempts.
func waiterCommand(env *Env, w waiter) *cobra.Command {
	delay := waitDelay(5 * time.Second)
	var attempts int
	describe := apiInput{service: "ec2", op: "DescribeInstanceConnectEndpoints",
		in: reflect.TypeFor[ec2.DescribeInstanceConnectEndpointsInput](), out: reflect.TypeFor[ec2.DescribeInstanceConnectEndpointsOutput]()}
	fields := inputFields(describe.in)
	doc := operationDoc(describe.service, describe.op)
	for i := range fields {
		fields[i].doc = doc.Params[fields[i].member]
	}
	var skel skeletonOptions
	cmd := &cobra.Command{
		Use:   kebab(w.name),
		Short: fmt.Sprintf("Wait until DescribeInstanceConnectEndpoints says %s; exit 255 if it fails or the attempts run out", w.name),
		Args:  skel.args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, args []string) error {
			skel.takeArgs(cmd, &args)
			if cmd.Flags().Changed("generate-cli-skeleton") {
				return describe.printSkeleton(cmd, &skel)
			}
			in := reflect.New(describe.in)
			// The input document first: the options override its members.
			if err := skel.loadInput(describe.service, describe.op, in.Elem()); err != nil {
				return err
			}
			for _, f := range fields {
				if err := f.apply(cmd, in.Elem()); err != nil {
					return err
				}
			}
			return runWaiter(cmd.Context(), env, w, in.Interface().(*ec2.DescribeInstanceConnectEndpointsInput), time.Duration(delay), attempts)
		},
	}
	skel.register(cmd)
	for _, f := range fields {
		f.register(cmd)
	}
	cmd.Flags().Var(&delay, "delay", "time between attempts: seconds (as AWS's waiters count them), or a duration such as 500ms (default 5)")
	cmd.Flags().IntVar(&attempts, "max-attempts", 120, "attempts before giving up")
	cmd.SetHelpFunc(func(cmd *cobra.Command, _ []string) { operationHelp(cmd, opDoc{Doc: commandDoc(cmd)}, fields) })
	return cmd
}

// waitDelay is --delay: whole seconds, as the delays of AWS's waiter
// definitions, or a Go duration (500ms, 1m).
type waitDelay time.Duration

func (d *waitDelay) String() string { return time.Duration(*d).String() }
func (d *waitDelay) Type() string   { return "seconds" }
func (d *waitDelay) Set(s string) error {
	if n, err := strconv.Atoi(s); err == nil {
		if n < 0 {
			return errors.New("a delay is not negative")
		}
		if max := int64(math.MaxInt64 / time.Second); int64(n) > max { // n seconds would overflow a time.Duration
			return fmt.Errorf("%d seconds is longer than a waiter can wait (at most %d)", n, max)
		}
		*d = waitDelay(time.Duration(n) * time.Second)
		return nil
	}
	v, err := time.ParseDuration(s)
	if err != nil || v < 0 {
		return fmt.Errorf("%q is neither whole seconds nor a duration such as 500ms", s)
	}
	*d = waitDelay(v)
	return nil
}

// runWaiter polls until w decides, as the AWS CLI's waiters do: the first
// attempt at once, then one every delay, at most attempts.
func runWaiter(ctx context.Context, env *Env, w waiter, in *ec2.DescribeInstanceConnectEndpointsInput, delay time.Duration, attempts int) error {
	if attempts < 1 {
		return usageErr("--max-attempts must be at least 1")
	}
	cfg, err := env.LoadAWSConfig(ctx)
	if err != nil {
		return err
	}
	api := ec2.NewFromConfig(cfg, func(o *ec2.Options) { setEndpoint(&o.BaseEndpoint, env.g.endpointURL) })
	fail := func(reason string) error {
		return &exitError{code: ExitOther, msg: fmt.Sprintf("\nWaiter %s failed: %s", w.name, reason)}
	}
	for i := 0; i < attempts; i++ {
		if i > 0 {
			t := time.NewTimer(delay)
			select {
			case <-ctx.Done():
				t.Stop()
				return fail(ctx.Err().Error())
			case <-t.C:
			}
		}
		out, err := api.DescribeInstanceConnectEndpoints(ctx, in)
		outcome, why := w.decide(out, err)
		switch outcome {
		case waitSuccess:
			return nil
		case waitFailure:
			if err != nil {
				var ee *exitError
				if errors.As(apiError("DescribeInstanceConnectEndpoints", err), &ee) {
					return fail(trimNL(ee.msg))
				}
			}
			return fail(why)
		}
	}
	return fail("Max attempts exceeded")
}

func trimNL(s string) string {
	for len(s) > 0 && s[0] == '\n' {
		s = s[1:]
	}
	return s
}
