// Package manpage writes postern's man pages (section 1), one per command
// of the whole tree (cli.ManTree). It is apart from package cli so that
// the postern binary neither links nor initialises the man page renderer
// (cobra/doc, go-md2man, blackfriday): only cmd genman uses it.
package manpage

import (
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra/doc"

	"github.com/postern/postern/internal/cli"
)

// WriteManPages writes a man page (section 1) for every command of the
// whole tree, every service expanded, into dir: postern.1,
// postern-server.1, postern-ec2-describe-vpcs.1 and so on. date is the
// pages' date, fixed by the caller so that a release is reproducible.
func WriteManPages(dir string, date time.Time) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("man pages: %w", err)
	}
	header := &doc.GenManHeader{
		Section: "1",
		Date:    &date,
		Source:  "Postern " + cli.Version,
		Manual:  "Postern Manual",
	}
	if err := doc.GenManTreeFromOpts(cli.ManTree(), doc.GenManTreeOptions{Header: header, Path: dir, CommandSeparator: "-"}); err != nil {
		return fmt.Errorf("man pages: %w", err)
	}
	return nil
}
