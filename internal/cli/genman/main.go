// Command genman writes postern's man pages, one per command, into a
// directory (`make release` puts them in dist/man/man1). The pages' date
// is SOURCE_DATE_EPOCH when set, else 1 January 2000, so that two builds of
// one tree write the same bytes; it does not install them.
package main

import (
	"fmt"
	"os"
	"strconv"
	"time"

	"github.com/postern/postern/internal/cli/manpage"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: genman DIR")
		os.Exit(2)
	}
	date := time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)
	if s := os.Getenv("SOURCE_DATE_EPOCH"); s != "" {
		sec, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			fmt.Fprintf(os.Stderr, "genman: SOURCE_DATE_EPOCH %q is not a number of seconds\n", s)
			os.Exit(2)
		}
		date = time.Unix(sec, 0).UTC()
	}
	if err := manpage.WriteManPages(os.Args[1], date); err != nil {
		fmt.Fprintln(os.Stderr, "genman:", err)
		os.Exit(1)
	}
}
