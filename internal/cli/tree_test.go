package cli

import (
	"bytes"
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// fullTree builds the whole command tree, every service with its
// operation commands.
func fullTree(t *testing.T) *cobra.Command {
	t.Helper()
	env := &Env{Stdout: &bytes.Buffer{}, Stderr: &bytes.Buffer{}, g: &globals{}}
	return buildTree(env, func(*cobra.Command) func(string) (bool, string) {
		return func(string) (bool, string) { return true, "" }
	})
}

// walk calls fn for cmd and every command below it.
func walk(cmd *cobra.Command, fn func(*cobra.Command)) {
	fn(cmd)
	for _, c := range cmd.Commands() {
		walk(c, fn)
	}
}

// TestCommandNamesUnique: no two commands answer to the same name — no
// two services, no two operations of a service (hand-written or reflected
// from the SDK), no Postern command beside a service — nor to a name cobra
// adds itself; cobra would silently run the first.
func TestCommandNamesUnique(t *testing.T) {
	root := fullTree(t)
	var services, commands int
	walk(root, func(parent *cobra.Command) {
		seen := map[string]string{}
		if parent == root {
			// cobra adds help when run; its completion is in the tree
			// (buildTree), so a second one would show below.
			seen["help"] = "cobra's own"
		}
		for _, c := range parent.Commands() {
			commands++
			for _, name := range append([]string{c.Name()}, c.Aliases...) {
				if other, dup := seen[name]; dup {
					t.Errorf("%q: two commands named %q (%s and %q)", parent.CommandPath(), name, other, c.Short)
				}
				seen[name] = "\"" + c.Short + "\""
			}
		}
	})
	for _, svc := range awsServices() {
		if c, _, err := root.Find([]string{svc.name}); err != nil || c.Name() != svc.name || !c.HasSubCommands() {
			t.Errorf("service %s: not in the tree with its operations", svc.name)
			continue
		}
		services++
	}
	// The tree is whole: the services and the operations Postern serves
	// are there (TestTreeOffersOnlyServedOperations checks which).
	served := 0
	for _, ops := range servedOps() {
		served += len(ops)
	}
	if services != 5 || commands < served {
		t.Fatalf("%d services, %d commands: the tree is not whole", services, commands)
	}
}

// TestPreParserKnowsValueFlags: commandWord, which picks the service to
// build before the command line is parsed, skips the value of every flag
// that takes one and may stand before the command (the flags a command
// inherits), and only those.
func TestPreParserKnowsValueFlags(t *testing.T) {
	root := fullTree(t)
	type probe struct{ flag, cmd string }
	seen := map[probe]bool{}
	walk(root, func(c *cobra.Command) {
		if c == root || c.Parent() == nil {
			return
		}
		top := c
		for top.Parent() != root {
			top = top.Parent()
		}
		check := func(f *pflag.Flag) {
			p := probe{f.Name, top.Name()}
			if seen[p] {
				return
			}
			seen[p] = true
			tests := [][]string{{"--" + f.Name + "=v", top.Name()}}
			if f.NoOptDefVal == "" {
				tests = append(tests, []string{"--" + f.Name, "v", top.Name()})
				if f.Shorthand != "" {
					tests = append(tests, []string{"-" + f.Shorthand, "v", top.Name()})
				}
			} else {
				tests = append(tests, []string{"--" + f.Name, top.Name()})
			}
			for _, args := range tests {
				if got := commandWord(root, append(args, "x")); got != top.Name() {
					t.Errorf("%s: commandWord(%q) = %q, want %q (value flag %v)", c.CommandPath(), args, got, top.Name(), f.NoOptDefVal == "")
				}
			}
		}
		c.InheritedFlags().VisitAll(check)
		if c.Parent() == root {
			root.LocalNonPersistentFlags().VisitAll(check)
		}
	})
	if len(seen) == 0 {
		t.Fatal("no inherited flags: the global options are missing")
	}
	// The global options are among them.
	for _, name := range []string{"profile", "region", "endpoint-url", "output", "ca-bundle", "debug", "no-verify-ssl"} {
		if !seen[probe{name, "ec2"}] {
			t.Errorf("--%s: not inherited by ec2's commands", name)
		}
	}
	if got := commandWord(root, []string{"--unknown", "ec2", "x"}); got != "ec2" {
		t.Errorf("an unknown flag is taken to stand alone: got %q", got)
	}
	if got := commandWord(root, []string{"--region"}); got != "" {
		t.Errorf("no command: got %q", got)
	}
}

// Main builds only the service named on the command line.
func TestCommandTreeExpandsOneService(t *testing.T) {
	env := &Env{Stdout: &bytes.Buffer{}, Stderr: &bytes.Buffer{}, g: &globals{}}
	root := commandTree(env, strings.Fields("--region us-east-1 --output text sts get-caller-identity"))
	for _, svc := range awsServices() {
		c, _, err := root.Find([]string{svc.name})
		if err != nil {
			t.Fatal(err)
		}
		if want := svc.name == "sts"; c.HasSubCommands() != want {
			t.Errorf("%s: built %v, want %v", svc.name, c.HasSubCommands(), want)
		}
	}
}

// TestCommandTreeHandWrittenOnly: a service's hand-written command named
// on the command line (open-tunnel, as ssh's ProxyCommand runs it; with
// global options anywhere before it) gets the service built without its
// reflected operations; any other word, a reflected operation, help, a
// completion or a mistyped or partial word, gets them all.
func TestCommandTreeHandWrittenOnly(t *testing.T) {
	tests := []struct {
		args      string
		reflected bool // send-ssh-public-key, a reflected operation, is built
	}{
		{"ec2-instance-connect open-tunnel --instance-id i-1", false},
		{"--region us-east-1 ec2-instance-connect --output json open-tunnel --instance-id i-1", false},
		{"help ec2-instance-connect open-tunnel", false},
		{"ec2-instance-connect ssh i-1", false},
		{"ec2 wait instance-connect-endpoint-available", false},
		{"ec2-instance-connect send-ssh-public-key --instance-id i-1", true},
		{"ec2-instance-connect", true},
		{"ec2-instance-connect help", true},
		{"ec2-instance-connect open-tunne", true},
		{"__complete ec2-instance-connect open", true},
		{"ec2-instance-connect --region open-tunnel send-ssh-public-key", true},
	}
	for _, tt := range tests {
		t.Run(tt.args, func(t *testing.T) {
			env := &Env{Stdout: &bytes.Buffer{}, Stderr: &bytes.Buffer{}, g: &globals{}}
			args := strings.Fields(tt.args)
			root := commandTree(env, args)
			svcName := "ec2-instance-connect"
			probe := "send-ssh-public-key"
			if slices.Contains(args, "ec2") {
				svcName, probe = "ec2", "describe-vpcs"
			}
			svc, _, err := root.Find([]string{svcName})
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, c := range svc.Commands() {
				names = append(names, c.Name())
			}
			if got := slices.Contains(names, probe); got != tt.reflected {
				t.Errorf("%s built: %v, want %v (commands %v)", probe, got, tt.reflected, names)
			}
			for _, hand := range []string{"open-tunnel", "ssh"} {
				if svcName == "ec2-instance-connect" && !slices.Contains(names, hand) {
					t.Errorf("%s not built (commands %v)", hand, names)
				}
			}
		})
	}
	// Run, not only built: open-tunnel's help, and a reflected operation's.
	for _, args := range [][]string{
		{"ec2-instance-connect", "open-tunnel", "--help"},
		{"ec2-instance-connect", "send-ssh-public-key", "help"},
	} {
		var out, errb bytes.Buffer
		if code := Main(context.Background(), args, strings.NewReader(""), &out, &errb); code != 0 || !strings.Contains(out.String(), args[1]) {
			t.Errorf("%v: exit %d, stdout %q, stderr %q", args, code, out.String(), errb.String())
		}
	}
}

// TestCompletionExpandsTheService: the shell completions ask through
// cobra's hidden __complete command, so the service after it must get its
// operation commands, as after `help`.
func TestCompletionExpandsTheService(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"__complete", "ec2", "create-v"}, "create-vpc\t"},
		{[]string{"__completeNoDesc", "iam", "list-u"}, "list-users\n"},
		{[]string{"__complete", "--region", "us-east-1", "ec2-instance-connect", "send"}, "send-ssh-public-key\t"},
		// `postern help ec2 describe-v<TAB>`: the service after help too.
		{[]string{"__complete", "help", "ec2", "describe-vp"}, "describe-vpcs\t"},
		{[]string{"__complete", "help", "tunn"}, "tunnels\t"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			var out, errb bytes.Buffer
			if code := Main(context.Background(), tc.args, strings.NewReader(""), &out, &errb); code != 0 {
				t.Fatalf("exit %d: %s", code, errb.String())
			}
			if !strings.Contains(out.String(), tc.want) {
				t.Fatalf("completions %q lack %q", out.String(), tc.want)
			}
		})
	}
}
