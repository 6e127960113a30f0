package cli

import (
	"bytes"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// ManTree returns the whole command tree, every service expanded, as the
// man pages show it (package manpage writes them; it lives apart so that
// the postern binary does not link and initialise the man page renderer).
// Defaults that depend on who runs the generator (the agent's state
// directory) are shown as they are for root, the packaged services' case,
// and no page gets cobra's "Auto generated … on DATE" line.
func ManTree() *cobra.Command {
	var discard bytes.Buffer
	env := &Env{Stdin: &discard, Stdout: &discard, Stderr: &discard, g: &globals{}}
	root := buildTree(env, func(*cobra.Command) func(string) (bool, string) {
		return func(string) (bool, string) { return true, "" }
	})
	if f := findFlag(root, "endpoint-agent", "state-dir"); f != nil {
		f.DefValue = "/var/lib/postern/agent as root, else ~/.local/state/postern/agent"
	}
	root.InitDefaultCompletionCmd() // cobra adds it when the tree runs
	noGenTag(root)
	return root
}

// findFlag returns the named local flag of root's subcommand name, or nil.
func findFlag(root *cobra.Command, name, flag string) *pflag.Flag {
	for _, c := range root.Commands() {
		if c.Name() == name {
			return c.Flags().Lookup(flag)
		}
	}
	return nil
}

// noGenTag leaves cobra's "Auto generated … on DATE" line out of every page.
func noGenTag(c *cobra.Command) {
	c.DisableAutoGenTag = true
	for _, sub := range c.Commands() {
		noGenTag(sub)
	}
}
