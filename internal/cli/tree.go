package cli

import (
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudtrail"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2instanceconnect"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// The whole `postern` command tree is built here, and only here: the
// global options, Postern's own commands, and the AWS services with their
// reflected operations and hand-written additions. No other file adds a
// command.

// commandTree builds the tree Main runs for args. Reflecting over an SDK
// client takes a while, so only the service named on the command line gets
// its operation commands; the other services stand as placeholders, enough
// for `postern --help`. When the word after the service names one of its
// hand-written commands (`ec2-instance-connect open-tunnel`, ssh's
// ProxyCommand), the service gets only those (serviceCommand).
func commandTree(env *Env, args []string) *cobra.Command {
	return buildTree(env, func(root *cobra.Command) func(service string) (bool, string) {
		word := commandWord(root, args)
		// `postern help ec2 describe-vpcs`, and the shell completions'
		// `postern __complete ec2 create-v`: the service is the next word.
		// `postern __complete help ec2 describe-v`: both. Bounded by args.
		rest := args
		for word == "help" || word == cobra.ShellCompRequestCmd || word == cobra.ShellCompNoDescRequestCmd {
			i := slices.Index(rest, word)
			if i < 0 {
				break
			}
			rest = rest[i+1:]
			word = commandWord(root, rest)
		}
		// The word after the service: its operation. Bounded by args.
		op := ""
		if i := slices.Index(rest, word); i >= 0 && word != "" {
			op = commandWord(root, rest[i+1:])
		}
		return func(service string) (bool, string) { return service == word, op }
	})
}

// buildTree builds the whole tree. expand is given the root, with its
// global options, and says which services get their operation commands,
// and the operation word given after the service ("": none known).
func buildTree(env *Env, expand func(root *cobra.Command) func(service string) (bool, string)) *cobra.Command {
	root := &cobra.Command{
		Use:           "postern",
		Short:         "Postern: a self-hosted EC2 Instance Connect Endpoint, and an AWS-CLI-compatible client for it",
		SilenceErrors: true,
		SilenceUsage:  true,
	}
	pf := root.PersistentFlags()
	pf.StringVar(&env.g.profile, "profile", "", "use a specific profile from the shared credentials and config files")
	pf.StringVar(&env.g.region, "region", "", "the region to use")
	pf.StringVar(&env.g.endpointURL, "endpoint-url", "", "override the service endpoint URL")
	registerOutputFlags(pf, env.g)
	registerGlobalPaging(pf)
	pf.StringVar(&env.g.caBundle, "ca-bundle", "", "the CA certificate bundle to use when verifying TLS certificates")
	pf.BoolVar(&env.g.noVerifySSL, "no-verify-ssl", false, "do not verify TLS certificates")
	pf.BoolVar(&env.g.debug, "debug", false, "log requests and responses to stderr")
	addVersionFlag(root)
	root.SetHelpCommand(notInBuildHelp(helpCommand()))

	// Postern's own commands.
	root.AddCommand(
		versionCommand(env),
		configureCommand(env),
		loginCommand(env),
		logoutCommand(env),
		applyCommand(env),
		authorizedKeysCommand(env),
		instanceCommand(env),
		sshShortcut(env),
		tunnelShortcut(env),
		tunnelsCommand(env),
	)
	// server, migrate, endpoint-agent: the full build's (servercmds.go);
	// the client build's stand-ins say which build has them (clientbuild.go).
	root.AddCommand(serverOnlyCommands(env)...)

	// The AWS CLI's service commands.
	expanded := expand(root)
	for _, svc := range awsServices() {
		if ok, op := expanded(svc.name); ok {
			root.AddCommand(serviceCommand(env, svc, op))
			continue
		}
		root.AddCommand(&cobra.Command{Use: svc.name, Short: svc.short, DisableFlagParsing: true,
			RunE: func(*cobra.Command, []string) error { return nil }})
	}
	// cobra's `completion` (added here rather than when run, so that
	// finishTree makes `postern completion` alone a usage error too).
	root.InitDefaultCompletionCmd()
	finishTree(root)
	return root
}

// notInBuild annotates a command this build leaves out (clientbuild.go):
// it runs nothing, and its help is its refusal.
const notInBuild = "postern/not-in-build"

// notInBuildHelp makes the help command's `postern help CMD`, for a
// command this build leaves out, the same usage error (exit 252) as
// `postern CMD`, rather than a help page and exit 0.
func notInBuildHelp(help *cobra.Command) *cobra.Command {
	run := help.RunE
	help.RunE = func(c *cobra.Command, args []string) error {
		if cmd, _, err := c.Root().Find(args); err == nil && cmd.Annotations[notInBuild] != "" {
			return cmd.RunE(cmd, nil)
		}
		return run(c, args)
	}
	return help
}

// awsServices are the AWS services the CLI offers, each with its SDK
// client and the commands and options added to the reflected ones.
func awsServices() []service {
	return []service{
		{name: "iam", short: "AWS Identity and Access Management (users, keys, groups, policies, roles)", client: func(c aws.Config, ep string) any {
			return iam.NewFromConfig(c, func(o *iam.Options) { setEndpoint(&o.BaseEndpoint, ep) })
		}, tweaks: iamTweaks()},
		{name: "sts", short: "AWS Security Token Service (caller identity, role sessions)", client: func(c aws.Config, ep string) any {
			return sts.NewFromConfig(c, func(o *sts.Options) { setEndpoint(&o.BaseEndpoint, ep) })
		}},
		{name: "ec2", short: "Amazon EC2: VPCs, subnets, security groups, instances, Instance Connect Endpoints", client: func(c aws.Config, ep string) any {
			return ec2.NewFromConfig(c, func(o *ec2.Options) { setEndpoint(&o.BaseEndpoint, ep) })
		},
			commands: []func(*Env) *cobra.Command{
				createJoinTokenCommand, describeAgentsCommand, revokeAgentCommand,
				registerInstanceCommand, deregisterInstanceCommand, waitCommand,
			},
			tweaks: ruleShorthandTweaks(),
		},
		{name: "ec2-instance-connect", short: "EC2 Instance Connect (SSH keys, tunnels)", client: func(c aws.Config, ep string) any {
			return ec2instanceconnect.NewFromConfig(c, func(o *ec2instanceconnect.Options) { setEndpoint(&o.BaseEndpoint, ep) })
		},
			commands: []func(*Env) *cobra.Command{sshCommand, openTunnelCommand},
		},
		{name: "cloudtrail", short: "AWS CloudTrail (event history)", client: func(c aws.Config, ep string) any {
			return cloudtrail.NewFromConfig(c, func(o *cloudtrail.Options) { setEndpoint(&o.BaseEndpoint, ep) })
		}},
	}
}

// commandWord returns the first argument that is neither a flag nor the
// value of one: the command. Which flags take a value is read from the
// root's flags, so a global option added to the tree is known here too.
// Flags it does not know are taken to stand alone.
func commandWord(root *cobra.Command, args []string) string {
	for i := 0; i < len(args); i++ {
		a := args[i]
		if !strings.HasPrefix(a, "-") {
			return a
		}
		if takesValue(root, a) {
			i++
		}
	}
	return ""
}

// unknownGlobalOption returns the first option before the command that
// is none of the global options ("" when there is none).
func unknownGlobalOption(root *cobra.Command, args []string) string {
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" || !strings.HasPrefix(a, "-") || a == "-" {
			return ""
		}
		name, _, _ := strings.Cut(strings.TrimLeft(a, "-"), "=")
		var f *pflag.Flag
		if strings.HasPrefix(a, "--") {
			f = root.PersistentFlags().Lookup(name)
			if f == nil {
				f = root.Flags().Lookup(name)
			}
		} else if len(name) == 1 {
			f = root.PersistentFlags().ShorthandLookup(name)
			if f == nil {
				f = root.Flags().ShorthandLookup(name)
			}
		}
		if f == nil && name != "help" && name != "h" {
			return a
		}
		if takesValue(root, a) {
			i++
		}
	}
	return ""
}

// takesValue says whether arg, a flag standing before the command, takes
// the next argument as its value.
func takesValue(root *cobra.Command, arg string) bool {
	var f *pflag.Flag
	switch {
	case strings.Contains(arg, "="):
		return false
	case strings.HasPrefix(arg, "--"):
		f = root.PersistentFlags().Lookup(arg[2:])
		if f == nil {
			f = root.Flags().Lookup(arg[2:])
		}
	case len(arg) == 2:
		f = root.PersistentFlags().ShorthandLookup(arg[1:])
		if f == nil {
			f = root.Flags().ShorthandLookup(arg[1:])
		}
	}
	return f != nil && f.NoOptDefVal == ""
}
