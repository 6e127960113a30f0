//go:build !postern_client

package cli

// The server-only commands: `postern server`, `postern migrate` and
// `postern endpoint-agent`. They link the server (its store, SQLite,
// pgx, Prometheus, the console) and the agent, so the client build
// (`-tags postern_client`, clientbuild.go) leaves this file out and
// offers a command of the same name that says which build has them.

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/postern/postern/internal/agent"
	"github.com/postern/postern/internal/server"
)

// ClientBuild says whether this is the client build (-tags
// postern_client): the same command tree without the server-only
// commands. This is the full build.
const ClientBuild = false

// serverOnlyCommands are the commands only the full build has.
func serverOnlyCommands(env *Env) []*cobra.Command {
	return []*cobra.Command{serverCommand(env), migrateCommand(env), endpointAgentCommand(env)}
}

func serverCommand(env *Env) *cobra.Command {
	var opts server.Options
	var level string
	var cmd *cobra.Command // the closure reads its flags
	cmd = actionCommand("server", "Run the Postern server (API and tunnels on one TLS listener)", func(ctx context.Context) error {
		logger, lv, err := newLogger(env.Stderr, level)
		if err != nil {
			return err
		}
		// Without --log-level, the config file's log_level applies.
		opts.LogLevel, opts.LogLevelGiven = lv, cmd.Flags().Changed("log-level")
		opts.Version = Version
		if err := server.Run(ctx, opts, env.Stdout, logger); err != nil {
			return commandFailed(ExitOther, "server", err)
		}
		return nil
	})
	cmd.Flags().StringVar(&opts.DataDir, "data-dir", "", "data directory (default ./postern-data, or data_dir in the config file)")
	cmd.Flags().StringVar(&opts.Listen, "listen", "", "TLS listener HOST:PORT, or several separated by commas (default 127.0.0.1:8443, or listen in the config file)")
	cmd.Flags().IntSliceVar(&opts.ListenFDs, "listen-fd", nil, "serve on inherited listening sockets, these file descriptors (comma-separated), instead of --listen")
	cmd.Flags().StringVar(&opts.ConfigFile, "config", "", "config file (default DATA_DIR/postern.yaml when present)")
	cmd.Flags().StringVar(&level, "log-level", "info", "debug, info, warn or error")
	cmd.Flags().StringVar(&opts.Database, "database", "", "the store: sqlite (default, DATA_DIR/postern.db) or a postgres:// URL shared by replicas")
	return cmd
}

func migrateCommand(env *Env) *cobra.Command {
	var opts server.Options
	cmd := actionCommand("migrate", "Create or bring up to date the store's schema, then exit (servers also migrate on start)", func(ctx context.Context) error {
		logger := slog.New(slog.NewTextHandler(env.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
		if err := server.Migrate(ctx, opts, logger); err != nil {
			return commandFailed(ExitOther, "migrate", err)
		}
		fmt.Fprintln(env.Stdout, "The store's schema is up to date.")
		return nil
	})
	cmd.Flags().StringVar(&opts.DataDir, "data-dir", "", "data directory (default ./postern-data)")
	cmd.Flags().StringVar(&opts.ConfigFile, "config", "", "config file (default DATA_DIR/postern.yaml when present)")
	cmd.Flags().StringVar(&opts.Database, "database", "", "sqlite (default) or a postgres:// URL")
	return cmd
}

// commandFailed is the failure of a server-side command as the user reads
// it: "postern COMMAND: " and the error's message without the package name
// the server and agent packages begin their errors with (trimPackage).
// Why: those packages prefix their errors with their name, as Go packages
// do, for their callers and logs; on the terminal the command already
// says what failed, and the two prefixes read "postern server: server:
// open database: …" (s16).
func commandFailed(code int, command string, err error) error {
	return &exitError{code: code, msg: "postern " + command + ": " + trimPackage(err.Error())}
}

// ownPackagePrefixes are the prefixes commandFailed drops: the packages
// the server-side commands run (server.Run, server.Migrate, package
// agent).
var ownPackagePrefixes = []string{"server: ", "agent: "}

// trimPackage returns msg without its leading package name (one of
// ownPackagePrefixes).
func trimPackage(msg string) string {
	for _, p := range ownPackagePrefixes {
		if rest, ok := strings.CutPrefix(msg, p); ok {
			return rest
		}
	}
	return msg
}

// joinFailed is err, the failure of a join, with the join named once:
// agent.Join's own errors begin "agent: join SERVER: …", its refusals do
// not name the join.
func joinFailed(err error) error {
	msg := trimPackage(err.Error())
	if strings.HasPrefix(msg, "join ") {
		return err
	}
	return errors.New("join: " + msg)
}

// defaultAgentStateDir is where an agent keeps its identity.
func defaultAgentStateDir() string {
	if os.Geteuid() == 0 {
		return "/var/lib/postern/agent"
	}
	if d := os.Getenv("XDG_STATE_HOME"); d != "" {
		return filepath.Join(d, "postern", "agent")
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "postern-agent"
	}
	return filepath.Join(home, ".local", "state", "postern", "agent")
}

func endpointAgentCommand(env *Env) *cobra.Command {
	var cfg agent.Config
	var token, level string
	cmd := actionCommand("endpoint-agent", "Run an endpoint agent: serve an Instance Connect Endpoint from inside its private network", func(ctx context.Context) error {
		logger, _, err := newLogger(env.Stderr, level)
		if err != nil {
			return err
		}
		cfg.Logger = logger
		cfg.Version = Version
		if token == "" {
			token = os.Getenv("POSTERN_JOIN_TOKEN")
		}
		// Cleaned once, here, as filepath.Join cleans the names of the
		// files in it: a ".." after a symlink would otherwise make one
		// directory (the kernel's) and keep the files in another.
		cfg.StateDir = filepath.Clean(cfg.StateDir)
		// One agent per state directory: two with one identity would
		// take each other's link in turns.
		unlock, err := agent.LockStateDir(cfg.StateDir)
		if err != nil {
			return commandFailed(ExitConfig, "endpoint-agent", err)
		}
		defer unlock()
		id, joined, err := agent.LoadOrJoin(ctx, token, cfg)
		switch {
		case errors.Is(err, agent.ErrNoIdentity):
			return usageErr("this agent has not joined an endpoint yet: pass --join-token (from `postern ec2 create-endpoint-join-token`)")
		case errors.Is(err, agent.ErrOtherEndpoint):
			return commandFailed(ExitConfig, "endpoint-agent", err)
		case err != nil && joined:
			return commandFailed(ExitOther, "endpoint-agent", joinFailed(err))
		case err != nil:
			return commandFailed(ExitConfig, "endpoint-agent", err)
		case joined:
			fmt.Fprintf(env.Stderr, "Joined endpoint %s as %s; identity saved in %s\n", id.EndpointID, id.AgentID, cfg.StateDir)
		case token != "":
			cfg.Logger.Info("already joined this endpoint; the join token was not used", "agent", id.AgentID, "endpoint", id.EndpointID)
		}
		if err := agent.New(id, cfg).Run(ctx); err != nil {
			return commandFailed(ExitOther, "endpoint-agent", err)
		}
		return nil
	})
	cmd.Long = `Run an endpoint agent inside a private network. It dials out to the Postern server (no inbound
port), joins an endpoint once with a join token, and then serves tunnels to the network's servers.

  postern ec2 create-endpoint-join-token --instance-connect-endpoint-id eice-…   # on an admin machine
  postern endpoint-agent --join-token PJT1.…                                     # in the private network

The identity it receives is kept in --state-dir; later starts need no token. One agent runs per
--state-dir (it is locked while the agent runs); to serve another endpoint from the same host, run
another agent with its own --state-dir and that endpoint's token. SIGTERM drains: no new tunnels,
open ones may finish for --drain-timeout.`
	f := cmd.Flags()
	f.StringVar(&token, "join-token", "", "join token (or POSTERN_JOIN_TOKEN); needed only the first time")
	f.StringVar(&cfg.StateDir, "state-dir", defaultAgentStateDir(), "where the agent keeps its key and identity")
	f.StringVar(&cfg.Name, "name", "", "the agent's name as operators see it (default: host name)")
	f.BoolVar(&cfg.AllowHost, "allow-host-addresses", false, "allow tunnels to this host's own addresses")
	f.BoolVar(&cfg.AllowLoopback, "allow-loopback", false, "allow tunnels to this host's loopback addresses (if the VPC contains them)")
	f.DurationVar(&cfg.DrainTimeout, "drain-timeout", 30*time.Second, "how long open tunnels may go on after SIGTERM")
	f.DurationVar(&cfg.DialTimeout, "dial-timeout", 10*time.Second, "how long to wait for a target to accept")
	f.StringVar(&cfg.KeysListen, "keys-listen", "", "serve pushed SSH keys to the network's instance helpers on HOST:PORT (TLS)")
	f.StringVar(&level, "log-level", "info", "debug, info, warn or error")
	return cmd
}
