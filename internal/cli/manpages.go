package cli

import (
	"bytes"
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/cobra/doc"
	"github.com/spf13/pflag"
)

// WriteManPages writes a man page (section 1) for every command of the
// whole tree, every service expanded, into dir: postern.1,
// postern-server.1, postern-ec2-describe-vpcs.1 and so on. date is the
// pages' date, fixed by the caller so that a release is reproducible.
// Defaults that depend on who runs the generator (the agent's state
// directory) are shown as they are for root, the packaged services' case.
func WriteManPages(dir string, date time.Time) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("man pages: %w", err)
	}
	var discard bytes.Buffer
	env := &Env{Stdin: &discard, Stdout: &discard, Stderr: &discard, g: &globals{}}
	root := buildTree(env, func(*cobra.Command) func(string) bool {
		return func(string) bool { return true }
	})
	if f := findFlag(root, "endpoint-agent", "state-dir"); f != nil {
		f.DefValue = "/var/lib/postern/agent as root, else ~/.local/state/postern/agent"
	}
	root.InitDefaultCompletionCmd() // cobra adds it when the tree runs
	noGenTag(root)
	header := &doc.GenManHeader{
		Section: "1",
		Date:    &date,
		Source:  "Postern " + Version,
		Manual:  "Postern Manual",
	}
	if err := doc.GenManTreeFromOpts(root, doc.GenManTreeOptions{Header: header, Path: dir, CommandSeparator: "-"}); err != nil {
		return fmt.Errorf("man pages: %w", err)
	}
	return nil
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
