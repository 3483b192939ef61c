// Command nines-probe is the probe agent alone: `nines probe` without the
// controller, dashboard and storage backends linked in, for regions where
// every megabyte of memory counts. Its flags are those of `nines probe`.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	// The flow kind runs contentsvc's SDK; the probe runs it when linked.
	_ "github.com/nines-sre/nines/contentsvc/flowcheck"
	"github.com/nines-sre/nines/internal/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	g := &cli.Globals{}
	root := cli.ProbeCommand("nines-probe", g)
	root.Version = cli.Version()
	root.SilenceUsage, root.SilenceErrors = true, true
	g.Flags(root)
	if err := root.ExecuteContext(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "nines-probe:", err)
		os.Exit(1)
	}
}
