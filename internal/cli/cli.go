// Package cli holds what the nines commands share: logging flags, the
// version, and the probe command, which both the nines binary and the
// lean nines-probe binary run.
package cli

import (
	"fmt"
	"log/slog"
	"os"
	"runtime"
	"runtime/debug"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/nines-sre/nines/probe"
	"github.com/nines-sre/nines/probe/check"
)

// Globals are the flags every command shares: how to log.
type Globals struct {
	logLevel  string
	logFormat string
}

// Flags adds --log-level and --log-format to root and its subcommands.
func (g *Globals) Flags(root *cobra.Command) {
	root.PersistentFlags().StringVar(&g.logLevel, "log-level", "info", "log level: debug, info, warn or error")
	root.PersistentFlags().StringVar(&g.logFormat, "log-format", "text", "log format: text or json")
}

// Logger builds the logger the flags ask for.
func (g *Globals) Logger() (*slog.Logger, error) {
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(g.logLevel)); err != nil {
		return nil, fmt.Errorf("--log-level: %q is not debug, info, warn or error", g.logLevel)
	}
	opts := &slog.HandlerOptions{Level: lvl}
	switch g.logFormat {
	case "text":
		return slog.New(slog.NewTextHandler(os.Stderr, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(os.Stderr, opts)), nil
	}
	return nil, fmt.Errorf("--log-format: %q is not text or json", g.logFormat)
}

// version is set at build time (`make build`: git describe); without it
// the module version and VCS revision from the build info stand in.
var version string

// Version reports the version the binary was built as.
func Version() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return strings.TrimSpace(version + " unknown")
	}
	if version != "" {
		return version + " " + bi.GoVersion
	}
	v := bi.Main.Version
	if v == "" {
		v = "(devel)"
	}
	var rev, dirty string
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			if s.Value == "true" {
				dirty = "+dirty"
			}
		}
	}
	if len(rev) > 12 {
		rev = rev[:12]
	}
	if rev != "" {
		v += " " + rev + dirty
	}
	return strings.TrimSpace(v + " " + bi.GoVersion)
}

// ProbeCommand is the probe agent as a command named use: `nines probe`,
// and the root of `nines-probe`, the probe alone in a smaller binary.
func ProbeCommand(use string, g *Globals) *cobra.Command {
	var o probe.Options
	var tokenFile, debugAddr, pdKeyFile string
	var maxProcs, gcPercent, browserPages int
	var browserExec string
	var browserMemMiB int64
	cmd := &cobra.Command{
		Use:   use,
		Short: "Run a probe agent for one region",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			log, err := g.Logger()
			if err != nil {
				return err
			}
			if tokenFile == "" {
				return fmt.Errorf("--token-file is required")
			}
			b, err := os.ReadFile(tokenFile)
			if err != nil {
				return fmt.Errorf("--token-file: %w", err)
			}
			o.Token = strings.TrimSpace(string(b))
			if pdKeyFile != "" {
				k, err := os.ReadFile(pdKeyFile)
				if err != nil {
					return fmt.Errorf("--watchdog-pagerduty-key-file: %w", err)
				}
				if o.Watchdog.RoutingKey = strings.TrimSpace(string(k)); len(o.Watchdog.RoutingKey) != 32 {
					return fmt.Errorf("--watchdog-pagerduty-key-file: a PagerDuty routing key is 32 characters, got %d", len(o.Watchdog.RoutingKey))
				}
			}
			if o.Watchdog.After <= 0 {
				return fmt.Errorf("--watchdog-after: %s is not a positive duration", o.Watchdog.After)
			}
			if browserExec != "" {
				switch st, err := os.Stat(browserExec); {
				case check.NewBrowser == nil:
					return fmt.Errorf("--browser: %s runs no browser checks (it is the lean probe); run `nines probe --browser %s`", use, browserExec)
				case err != nil || st.IsDir() || st.Mode()&0o111 == 0:
					return fmt.Errorf("--browser: %s is not an executable (Debian's Chromium: apt-get install chromium, then --browser /usr/bin/chromium)", browserExec)
				case browserPages < 1:
					return fmt.Errorf("--browser-pages: %d; at least 1", browserPages)
				case browserMemMiB < 64:
					return fmt.Errorf("--browser-max-memory: %d MiB; at least 64", browserMemMiB)
				}
				o.Browser = check.NewBrowser(browserExec, browserPages, browserMemMiB<<20, log)
			}
			if o.ProbeID == "" {
				host, _ := os.Hostname()
				o.ProbeID = host + "-" + o.Region
			}
			if o.SpoolPath == "" {
				o.SpoolPath = "nines-spool-" + o.Region + ".db"
			}
			if maxProcs > 0 && os.Getenv("GOMAXPROCS") == "" {
				runtime.GOMAXPROCS(maxProcs)
			}
			if gcPercent > 0 && os.Getenv("GOGC") == "" {
				debug.SetGCPercent(gcPercent)
			}
			o.Logger, o.Version = log, Version()
			if _, err := ServeDebug(cmd.Context(), debugAddr, log); err != nil {
				return err
			}
			return probe.Run(cmd.Context(), o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.Region, "region", "", "region this probe runs in (required)")
	f.StringVar(&o.Controller, "controller", "", "controller base URL, e.g. https://nines.example.com (required); several, comma-separated, for controller replicas without a load balancer")
	f.StringVar(&tokenFile, "token-file", "", "file holding this region's probe token (required)")
	f.StringVar(&o.ProbeID, "probe-id", "", "unique probe id (default HOSTNAME-REGION)")
	f.StringVar(&o.SpoolPath, "spool", "", "spool file (default nines-spool-REGION.db)")
	f.Int64Var(&o.SpoolMaxBytes, "spool-max-bytes", 512<<20, "most bytes of results kept while the controller is away; the oldest are dropped past it (0: no bound)")
	f.DurationVar(&o.SpoolMaxAge, "spool-max-age", 72*time.Hour, "oldest result kept while the controller is away (0: no bound)")
	f.StringVar(&o.Listen, "listen", "127.0.0.1:9464", "address for /metrics and /healthz (default loopback only; :9464 for every interface; empty disables)")
	f.IntVar(&o.BatchSize, "batch-size", 1000, "most results per shipment")
	f.StringVar(&o.NATSURL, "nats", "", "ship results through NATS JetStream at this URL instead of HTTP")
	f.StringVar(&o.CAFile, "tls-ca", "", "CA that signed the controller's certificate (default: system roots)")
	f.StringVar(&o.CertFile, "tls-cert", "", "client certificate for mutual TLS (PEM)")
	f.StringVar(&o.KeyFile, "tls-key", "", "the client certificate's private key (PEM)")
	f.IntVar(&gcPercent, "gc-percent", 50, "heap growth that triggers garbage collection (GOGC wins when set); the probe's heap is mostly its schedule, and 50 keeps its footprint small at little CPU cost")
	f.IntVar(&maxProcs, "max-procs", 1, "CPU cores the probe's Go runtime uses (GOMAXPROCS wins when set); a probe mostly waits on the network, and one core spares it the cost of waking threads across cores")
	f.DurationVar(&o.MaxBackoff, "max-backoff", 0, "longest wait between retries while the controller is away (default 15s)")
	f.DurationVar(&o.Watchdog.After, "watchdog-after", 5*time.Minute, "page through PagerDuty after this long without reaching a controller (with --watchdog-pagerduty-key-file)")
	f.StringVar(&pdKeyFile, "watchdog-pagerduty-key-file", "", "file holding the PagerDuty Events API v2 routing key the watchdog pages with; none: no watchdog")
	f.StringVar(&o.Watchdog.EventsURL, "watchdog-pagerduty-url", "https://events.pagerduty.com", "PagerDuty Events API base URL (EU accounts: https://events.eu.pagerduty.com)")
	f.StringVar(&o.Watchdog.DedupKey, "watchdog-dedup-key", "", "the installation's incident key, the same on every probe (default from the controller URL)")
	f.StringVar(&browserExec, "browser", "", "Chromium to run browser checks with (Debian's: /usr/bin/chromium; nines probe only, not the lean nines-probe); without it this probe is not assigned them")
	f.IntVar(&browserPages, "browser-pages", 2, "browser checks at once, each a page of its own")
	f.Int64Var(&browserMemMiB, "browser-max-memory", 1024, "MiB of resident memory of the browser and its processes past which it is started again between runs")
	DebugFlag(cmd, &debugAddr)
	return cmd
}
