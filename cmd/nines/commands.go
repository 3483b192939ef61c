package main

import (
	"fmt"
	"net/url"
	"os"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/nines-sre/nines/config"
	"github.com/nines-sre/nines/contentsvc"
	"github.com/nines-sre/nines/controller"
	"github.com/nines-sre/nines/demo"
	"github.com/nines-sre/nines/internal/cli"
)

func controllerCmd(g *cli.Globals) *cobra.Command {
	var o controller.Options
	var file, debugAddr string
	cmd := &cobra.Command{
		Use:   "controller",
		Short: "Run the controller: probe API, result ingest, quorum verdicts, status API",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			log, err := g.Logger()
			if err != nil {
				return err
			}
			cfg, err := config.Load(file)
			if err != nil {
				return fmt.Errorf("configuration:\n%w", err)
			}
			o.Config, o.Logger, o.ConfigFile = cfg, log, file
			if _, err := cli.ServeDebug(cmd.Context(), debugAddr, log); err != nil {
				return err
			}
			o.Reload = cli.OnSignal(cmd.Context(), syscall.SIGHUP)
			return controller.Run(cmd.Context(), o)
		},
	}
	cmd.Flags().StringVar(&file, "config", "nines.yaml", "configuration file")
	cmd.Flags().StringVar(&o.DataDir, "data", "data", "directory for the SQLite database")
	databaseFlag(cmd, &o.Database)
	cmd.Flags().StringVar(&o.Replica, "replica", "", "name of this replica among controllers sharing a PostgreSQL database (default host-pid)")
	cmd.Flags().DurationVar(&o.LeaseTTL, "lease-ttl", 10*time.Second, "how long the leader's lease lasts unrenewed before another replica takes over")
	cmd.Flags().StringVar(&o.Listen, "listen", ":8080", "address to serve the API on")
	cmd.Flags().StringVar(&o.TLSCertFile, "tls-cert", "", "serve HTTPS with this certificate (PEM)")
	cmd.Flags().StringVar(&o.TLSKeyFile, "tls-key", "", "the certificate's private key (PEM)")
	cmd.Flags().StringVar(&o.NATSURL, "nats", "", "also take results from NATS JetStream at this URL (e.g. nats://127.0.0.1:4222)")
	cmd.Flags().StringVar(&o.ClientCAFile, "client-ca", "", "require probes to present a certificate signed by this CA (mutual TLS)")
	cmd.Flags().DurationVar(&o.ReloadEvery, "config-check-every", 5*time.Second, "how often the configuration file is checked for changes (SIGHUP reloads at once)")
	cmd.Flags().DurationVar(&o.RawRetention, "retention-raw", controller.DefaultRawRetention, "how long raw results are kept")
	cmd.Flags().DurationVar(&o.SliceRetention, "retention-slices", controller.DefaultSliceRetention, "how long minute slices are kept (hourly and daily rollups are kept for ever)")
	cli.DebugFlag(cmd, &debugAddr)
	return cmd
}

func contentsvcCmd(g *cli.Globals) *cobra.Command {
	var o contentsvc.Options
	var tokenFile, segmentsFile, heartbeat, renders, errorEvents string
	cmd := &cobra.Command{
		Use:   "contentsvc",
		Short: "Run the content and segment service (the reference system under test)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			log, err := g.Logger()
			if err != nil {
				return err
			}
			if tokenFile != "" {
				b, err := os.ReadFile(tokenFile)
				if err != nil {
					return fmt.Errorf("--admin-token-file: %w", err)
				}
				o.AdminToken = strings.TrimSpace(string(b))
			}
			if segmentsFile != "" {
				if o.Segments, err = contentsvc.LoadSegments(segmentsFile); err != nil {
					return err
				}
			}
			o.Logger = log
			if heartbeat != "" {
				o.Heartbeat = func() string { return heartbeat }
			}
			if renders != "" {
				if u, err := url.Parse(renders); err != nil || (u.Scheme != "http" && u.Scheme != "https") || !strings.HasPrefix(u.Path, "/sli/") {
					return fmt.Errorf("--renders-sli: %q is not a nines push URL (http(s)://…/sli/SLO/KEY)", renders)
				}
				o.RendersSLI = func() string { return renders }
			}
			if errorEvents != "" {
				if u, err := url.Parse(errorEvents); err != nil || (u.Scheme != "http" && u.Scheme != "https") || !strings.HasPrefix(u.Path, "/events/") {
					return fmt.Errorf("--error-events: %q is not a nines event rule's URL (http(s)://…/events/RULE/KEY)", errorEvents)
				}
				o.ErrorEvents = func() string { return errorEvents }
			}
			return contentsvc.Run(cmd.Context(), o)
		},
	}
	cmd.Flags().StringVar(&o.Listen, "listen", ":8081", "address to serve on")
	cmd.Flags().StringVar(&o.DataDir, "data", "contentsvc-data", "directory for published content")
	cmd.Flags().StringVar(&tokenFile, "admin-token-file", "", "file holding the bearer token required on /admin and content changes (default: no token)")
	cmd.Flags().StringVar(&segmentsFile, "segments", "", "YAML file of segment rules (default: beta, germany and canary)")
	cmd.Flags().StringVar(&heartbeat, "pipeline-heartbeat", "", "a nines heartbeat check's ping URL (…/ping/CHECK/KEY) for the publish pipeline to report to")
	cmd.Flags().DurationVar(&o.PipelineEvery, "pipeline-every", time.Minute, "how often the publish pipeline runs")
	cmd.Flags().StringVar(&renders, "renders-sli", "", "a nines events SLO's push URL (…/sli/SLO/KEY) to send real users' renders to, each minute's good and valid")
	cmd.Flags().StringVar(&errorEvents, "error-events", "", "a nines event rule's URL (…/events/RULE/KEY) told of every new error fingerprint")
	cmd.Flags().StringVar(&o.NATSURL, "nats", "", "queue real users' events on NATS JetStream at this URL (default: an embedded queue in --data)")
	cmd.AddCommand(faultCmd())
	return cmd
}

func demoCmd(g *cli.Globals) *cobra.Command {
	var o demo.Options
	var scenario, browserFlag string
	var scenarioFor time.Duration
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Run contentsvc, the controller and seven regional probes on loopback",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			log, err := g.Logger()
			if err != nil {
				return err
			}
			if scenario != "" {
				dir := demo.Locate(o.DataDir, cmd.Flags().Changed("data"))
				return demo.Stage(cmd.Context(), scenario, dir, scenarioFor, cmd.OutOrStdout())
			}
			o.Logger, o.Version, o.Out = log, cli.Version(), cmd.OutOrStdout()
			if o.Users < 0 || o.Users > 10000 {
				return fmt.Errorf("--users: %d is not between 0 and 10000", o.Users)
			}
			if o.RendersPerSecond <= 0 || o.RendersPerSecond > 200 {
				return fmt.Errorf("--renders-per-second: %v is not above 0 and at most 200", o.RendersPerSecond)
			}
			switch browserFlag {
			case "auto":
				o.Browser = ""
				if st, err := os.Stat("/usr/bin/chromium"); err == nil && !st.IsDir() {
					o.Browser = "/usr/bin/chromium"
				}
			case "none":
				o.Browser = ""
			default:
				if st, err := os.Stat(browserFlag); err != nil || st.IsDir() {
					return fmt.Errorf("--browser: %s is not Chromium (auto, none, or a path such as /usr/bin/chromium)", browserFlag)
				}
				o.Browser = browserFlag
			}
			return demo.Run(cmd.Context(), o)
		},
	}
	cmd.Flags().StringVar(&o.Listen, "listen", "127.0.0.1:8080", "controller address")
	cmd.Flags().StringVar(&o.ContentsvcListen, "contentsvc-listen", "127.0.0.1:0", "contentsvc address (port 0 picks a free one)")
	cmd.Flags().StringVar(&o.DataDir, "data", demo.DefaultDataDir, "directory for the database, spools and content")
	cmd.Flags().StringVar(&o.ConfigFile, "config", "", "configuration to run instead of the embedded configs/demo.yaml")
	cmd.Flags().StringVar(&browserFlag, "browser", "auto", "Chromium for the probes' browser check of the app page: auto (/usr/bin/chromium when installed), none, or a path")
	cmd.Flags().BoolVar(&o.Jobs, "jobs", false, "add the publish pipeline: a heartbeat check that contentsvc's publish job reports in to (scenario job-stalled)")
	cmd.Flags().IntVar(&o.Users, "users", 40, "simulated real users of the app, whose renders contentsvc counts for the renders SLO (0: none)")
	cmd.Flags().Float64Var(&o.RendersPerSecond, "renders-per-second", 5, "renders the simulated users make a second in all")
	cmd.Flags().StringVar(&scenario, "scenario", "", "stage an incident on the running demo (the newest, or the one with this --data): "+strings.Join(demo.ScenarioNames(), ", ")+", or clear")
	cmd.Flags().DurationVar(&scenarioFor, "for", 10*time.Minute, "how long a staged scenario lasts before it clears itself (0: until cleared)")
	return cmd
}

func validateCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "validate FILE...",
		Short: "Check configuration files and print every error with file, line and field",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			bad := false
			for _, f := range args {
				cfg, err := config.Load(f)
				if err != nil {
					bad = true
					fmt.Fprintln(cmd.ErrOrStderr(), err)
					continue
				}
				for _, w := range cfg.Warnings {
					fmt.Fprintln(cmd.ErrOrStderr(), "warning: "+w.Error())
				}
				fmt.Fprintf(cmd.OutOrStdout(), "%s: ok (%d regions, %d components, %d checks, version %s)\n",
					f, len(cfg.Regions), len(cfg.Components), len(cfg.AllChecks()), cfg.Version)
			}
			if bad {
				return errSilent
			}
			return nil
		},
	}
}

// databaseFlag adds --database, whose default comes from
// $NINES_DATABASE_URL so that a password stays off the command line.
func databaseFlag(cmd *cobra.Command, dst *string) {
	cmd.Flags().StringVar(dst, "database", os.Getenv("NINES_DATABASE_URL"),
		"PostgreSQL URL (postgres://user@host/db) shared by controller replicas, or a SQLite file (default DATA/nines.db; env NINES_DATABASE_URL)")
}
