package cli

import (
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// TestFlagPlaceholders: a flag's help shows a one-word placeholder for its
// value (string, FILE, …). pflag takes the first `backquoted` words of a
// usage string as that placeholder, so a usage that quotes a command
// (`postern instance init`) printed "--config postern instance init" in
// `postern authorized-keys --help` and its man page.
func TestFlagPlaceholders(t *testing.T) {
	root := fullTree(t)
	walk(root, func(cmd *cobra.Command) {
		check := func(f *pflag.Flag) {
			if name, _ := pflag.UnquoteUsage(f); strings.ContainsAny(name, " \t") {
				t.Errorf("%s --%s: its help shows the placeholder %q (a backquoted phrase in its usage %q)", cmd.CommandPath(), f.Name, name, f.Usage)
			}
		}
		cmd.LocalFlags().VisitAll(check)
	})
}
