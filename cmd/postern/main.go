// Command postern is the single Postern binary: server, endpoint agent,
// instance helper and an AWS-CLI-compatible client.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/postern/postern/internal/cli"
)

func main() {
	// A signal cancels the command's context with the signal as its cause
	// (cli.Signalled): Ctrl-C ends a client command with exit 130, as the
	// AWS CLI does; later signals are caught and ignored, as before.
	ctx, cancel := context.WithCancelCause(context.Background())
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	go func() { cancel(cli.Signalled{Signal: <-sigs}) }()
	code := cli.Main(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	signal.Stop(sigs)
	os.Exit(code)
}
