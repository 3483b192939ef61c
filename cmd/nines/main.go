// Command nines is the single binary of the nines monitoring platform: the
// controller, the regional probe agent, the reference content service, the
// all-in-one demo, and the configuration validator.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	// The flow kind runs contentsvc's SDK; the probe runs it when linked.
	_ "github.com/nines-sre/nines/contentsvc/flowcheck"
	"github.com/nines-sre/nines/internal/cli"
)

// errSilent marks an error already reported to the user.
var errSilent = errors.New("")

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := newRoot().ExecuteContext(ctx); err != nil {
		if !errors.Is(err, errSilent) {
			fmt.Fprintln(os.Stderr, "nines:", err)
		}
		os.Exit(1)
	}
}

func newRoot() *cobra.Command {
	g := &cli.Globals{}
	root := &cobra.Command{
		Use:           "nines",
		Short:         "Uptime and SLA monitoring: regional probes, quorum verdicts, error budgets",
		Version:       cli.Version(),
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	g.Flags(root)
	root.AddCommand(controllerCmd(g), cli.ProbeCommand("probe", g), contentsvcCmd(g), demoCmd(g), validateCmd(), slaCmd(), hashPasswordCmd())
	return root
}
