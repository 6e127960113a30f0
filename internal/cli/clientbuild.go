//go:build postern_client

package cli

// The client build (`go build -tags postern_client`, `make client`): the
// same command tree and flags for workstations, without the server-only
// commands (servercmds.go), so the binary links neither the server nor
// its store (SQLite, pgx), Prometheus, the console nor the endpoint
// agent, and every process starts faster. Asked for one of them, it
// says which build has it.

import (
	"fmt"

	"github.com/spf13/cobra"
)

// ClientBuild says whether this is the client build (-tags
// postern_client). This is the client build.
const ClientBuild = true

// serverOnly are the full build's commands this build leaves out, with
// what each does.
var serverOnly = []struct{ name, short string }{
	{"server", "Run the Postern server (not in the client build)"},
	{"migrate", "Bring the store's schema up to date (not in the client build)"},
	{"endpoint-agent", "Run an endpoint agent (not in the client build)"},
}

// serverOnlyCommands are hidden commands standing for the server-only
// ones: whatever their arguments, they fail with a usage error (exit 252)
// that names the full build.
func serverOnlyCommands(*Env) []*cobra.Command {
	cmds := make([]*cobra.Command, 0, len(serverOnly))
	for _, c := range serverOnly {
		cmds = append(cmds, &cobra.Command{
			Use: c.name, Short: c.short, Long: notInClientBuild(c.name),
			Hidden: true, DisableFlagParsing: true, Annotations: map[string]string{notInBuild: "client"},
			RunE: func(*cobra.Command, []string) error { return usageErr("%s", notInClientBuild(c.name)) },
		})
	}
	return cmds
}

// notInClientBuild says that the server-only command name is not in this
// build, and which build has it.
func notInClientBuild(name string) string {
	return fmt.Sprintf("`postern %s` is not in this build: this is the client build of postern "+
		"(for workstations; it leaves out the server, the endpoint agent and the store). "+
		"Run `postern %s` with the full build of postern (release file postern-OS-ARCH, not postern-client-OS-ARCH; `make build`).",
		name, name)
}
