package cli

import (
	"fmt"
	"runtime"
	"strings"

	"github.com/spf13/cobra"
)

// versionString is the `postern --version` line, laid out as `aws
// --version`'s: postern/VERSION Go/x.y.z os/arch. The API calls' User-Agent
// carries postern/VERSION too (LoadAWSConfig).
func versionString() string {
	return fmt.Sprintf("postern/%s Go/%s %s/%s", Version, strings.TrimPrefix(runtime.Version(), "go"), runtime.GOOS, runtime.GOARCH)
}

// addVersionFlag gives root the AWS CLI's --version option (no -v).
func addVersionFlag(root *cobra.Command) {
	root.Version = versionString()
	root.SetVersionTemplate("{{.Version}}\n")
	root.Flags().Bool("version", false, "display the version of this tool")
}

func versionCommand(env *Env) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version",
		Args:  cobra.NoArgs,
		Run:   func(cmd *cobra.Command, _ []string) { fmt.Fprintln(env.Stdout, versionString()) },
	}
}

// unknownOperation is a service command's argument check: a word that is
// none of its commands is an error (exit 252), with the commands it may
// have meant, as a mistyped service is; an AWS operation Postern does not
// serve (sdkOps, kebab names) is said to be one.
func unknownOperation(service string, sdkOps map[string]bool) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) == 0 {
			return nil
		}
		word := args[0]
		if word == "help" && len(args) == 1 { // `postern ec2 help`, as `aws ec2 help`
			return nil
		}
		if sdkOps[word] {
			return usageErr("%q is an AWS %s operation that Postern does not serve; `postern %s help` lists the ones it does", word, service, service)
		}
		msg := fmt.Sprintf("unknown command %q for %q", word, cmd.CommandPath())
		if cmd.SuggestionsMinimumDistance <= 0 {
			cmd.SuggestionsMinimumDistance = 2 // cobra's default, set only on its own path
		}
		if s := cmd.SuggestionsFor(word); len(s) > 0 {
			msg += "\n\nDid you mean this?\n\t" + strings.Join(s, "\n\t") + "\n"
		}
		return usageErr("%s", msg)
	}
}

// helpOrNoArgs is an operation's argument check: no arguments, or the
// single word help (`postern ec2 describe-vpcs help`, as the AWS CLI's).
func helpOrNoArgs(cmd *cobra.Command, args []string) error {
	if len(args) == 1 && args[0] == "help" {
		return nil
	}
	return cobra.NoArgs(cmd, args)
}
