package cli

import (
	"fmt"
	"runtime"
	"strings"

	"github.com/spf13/cobra"
)

// versionString is the `postern --version` line, laid out as `aws
// --version`'s: postern/VERSION Go/x.y.z os/arch. The API calls' User-Agent
// carries postern/VERSION too (LoadAWSConfig). The client build (-tags
// postern_client) adds build/client, so that a user can tell it from the
// full build, which alone has server, migrate and endpoint-agent.
func versionString() string {
	v := fmt.Sprintf("postern/%s Go/%s %s/%s", Version, strings.TrimPrefix(runtime.Version(), "go"), runtime.GOOS, runtime.GOARCH)
	if ClientBuild {
		v += " build/client"
	}
	return v
}

// addVersionFlag gives root the AWS CLI's --version option (no -v), a
// global one: the AWS CLI takes it after any command too (`aws ec2
// --version`), so every command answers it (finishTree, versionFirst).
func addVersionFlag(root *cobra.Command) {
	root.PersistentFlags().Bool("version", false, "display the version of this tool")
}

// versionFirst makes c, when --version is given, print the version line
// and do nothing else, before it checks its arguments (as cobra's own
// --version does for a command with a Version, which Postern does not
// use: cobra prints "NAME version VERSION" unless given a text/template
// layout, and a program that can execute a template keeps every exported
// method of the SDK's clients: servedOperations says what that costs).
// The root keeps its nil arguments check (cobra then refuses an unknown
// command before it parses the flags, as before), so its run does it.
func versionFirst(c *cobra.Command, version string) {
	given := func(cmd *cobra.Command) bool {
		v, err := cmd.Flags().GetBool("version")
		return err == nil && v
	}
	show := func(cmd *cobra.Command) error {
		fmt.Fprintln(cmd.OutOrStdout(), version)
		return &exitError{code: ExitOK} // printed; exit 0
	}
	if !c.HasParent() {
		if run := c.RunE; run != nil {
			c.RunE = func(cmd *cobra.Command, args []string) error {
				if given(cmd) {
					return show(cmd)
				}
				return run(cmd, args)
			}
		}
		return
	}
	check := c.Args
	c.Args = func(cmd *cobra.Command, args []string) error {
		if given(cmd) {
			return show(cmd)
		}
		if check == nil { // cobra's own for a command that is not the root
			return nil
		}
		return check(cmd, args)
	}
}

// finishTree makes every command in the tree answer --version and
// makes every command that only groups others — the root, a service, `ec2
// wait`, `tunnels` — refuse to run without one, as the AWS CLI's do: its
// usage and "the following arguments are required" or "too few arguments",
// exit 252; a word that is none of its commands is an error with
// suggestions. It runs after the whole tree is built.
func finishTree(root *cobra.Command) {
	version := versionString()
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		if c.HasSubCommands() && !c.DisableFlagParsing {
			switch {
			case c == root:
				c.RunE = requireWord("command")
			case !c.Runnable():
				c.Args = unknownOperation(c.Name(), nil)
				c.RunE = requireSubcommand
			}
		}
		if !c.HasSubCommands() && c.Runnable() && !c.DisableFlagParsing && c.Args != nil && c.Args(c, []string{"probe"}) != nil {
			helpWord(c)
		}
		if !c.DisableFlagParsing {
			versionFirst(c, version)
		}
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(root)
}

// helpWord lets a command that takes no arguments take the word help
// instead, and show its help: `postern tunnels list help`, as `aws ec2
// describe-vpcs help` (formerly "unknown command").
func helpWord(c *cobra.Command) {
	isHelp := func(args []string) bool { return len(args) == 1 && args[0] == "help" }
	check := c.Args
	c.Args = func(cmd *cobra.Command, args []string) error {
		if isHelp(args) {
			return nil
		}
		return check(cmd, args)
	}
	if run := c.RunE; run != nil {
		c.RunE = func(cmd *cobra.Command, args []string) error {
			if isHelp(args) {
				return cmd.Help()
			}
			return run(cmd, args)
		}
	}
	if run := c.Run; run != nil {
		c.Run = func(cmd *cobra.Command, args []string) {
			if isHelp(args) {
				_ = cmd.Help()
				return
			}
			run(cmd, args)
		}
	}
}

// helpBlurb is the AWS CLI's usage and help hint, with postern's name.
const helpBlurb = "usage: postern [options] <command> <subcommand> [<subcommand> ...] [parameters]\n" +
	"To see help text, you can run:\n" +
	"\n" +
	"  postern help\n" +
	"  postern <command> help\n" +
	"  postern <command> <subcommand> help\n"

// requireWord is the root's and a service's run: `postern` and `postern
// ec2` alone are usage errors, worded as the AWS CLI's argument parser
// words them ("the following arguments are required: operation"); `postern
// ec2 help` shows the service's help.
func requireWord(what string) func(cmd *cobra.Command, args []string) error {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) == 1 && args[0] == "help" {
			return cmd.Help()
		}
		return &exitError{code: ExitUsage, msg: helpBlurb + "postern: error: the following arguments are required: " + what}
	}
}

// requireSubcommand is the run of a command that groups others (`postern
// ec2 wait`, `postern tunnels`), worded as the AWS CLI's such commands word
// it when called alone; `postern tunnels help` shows its help.
func requireSubcommand(cmd *cobra.Command, args []string) error {
	if len(args) == 1 && args[0] == "help" {
		return cmd.Help()
	}
	path := strings.TrimPrefix(cmd.CommandPath(), cmd.Root().Name()+" ")
	return &exitError{code: ExitUsage, msg: "\nusage: postern [options] " + path + " <subcommand> [parameters]\npostern: error: too few arguments"}
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
// serve (sdkOp reports them by kebab name; nil: none) is said to be one.
func unknownOperation(service string, sdkOp func(word string) bool) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) == 0 {
			return nil
		}
		word := args[0]
		if word == "help" && len(args) == 1 { // `postern ec2 help`, as `aws ec2 help`
			return nil
		}
		if sdkOp != nil && sdkOp(word) {
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
