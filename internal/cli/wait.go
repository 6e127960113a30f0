package cli

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
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

func waiterCommand(env *Env, w waiter) *cobra.Command {
	var ids []string
	var filters []string
	var delay time.Duration
	var attempts int
	cmd := &cobra.Command{
		Use:   kebab(w.name),
		Short: fmt.Sprintf("Wait until DescribeInstanceConnectEndpoints says %s; exit 255 if it fails or the attempts run out", w.name),
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			in := &ec2.DescribeInstanceConnectEndpointsInput{InstanceConnectEndpointIds: ids}
			for _, f := range filters {
				v, err := ParseShorthand(f)
				if err != nil {
					return usageErr("--filters %q: %v", f, err)
				}
				flt := ec2types.Filter{}
				if n, ok := v["Name"].(string); ok {
					flt.Name = aws.String(n)
				}
				switch vs := v["Values"].(type) {
				case string:
					flt.Values = []string{vs}
				case []any:
					for _, x := range vs {
						if s, ok := x.(string); ok {
							flt.Values = append(flt.Values, s)
						}
					}
				}
				in.Filters = append(in.Filters, flt)
			}
			return runWaiter(cmd.Context(), env, w, in, delay, attempts)
		},
	}
	cmd.Flags().StringSliceVar(&ids, "instance-connect-endpoint-ids", nil, "the endpoints to wait for")
	cmd.Flags().StringArrayVar(&filters, "filters", nil, "filters, as describe-instance-connect-endpoints takes them (Name=state,Values=…)")
	cmd.Flags().DurationVar(&delay, "delay", 5*time.Second, "time between attempts")
	cmd.Flags().IntVar(&attempts, "max-attempts", 120, "attempts before giving up")
	return cmd
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
