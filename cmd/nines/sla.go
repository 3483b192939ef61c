package main

import (
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/nines-sre/nines/config"
	"github.com/nines-sre/nines/controller"
	"github.com/nines-sre/nines/controller/fleet"
	"github.com/nines-sre/nines/controller/ledger"
	"github.com/nines-sre/nines/controller/replica"
)

func slaCmd() *cobra.Command {
	var file, data, database, from, to, month, format string
	cmd := &cobra.Command{
		Use:   "sla",
		Short: "Report SLOs, incidents, maintenance and availability for any period",
		Long: `Report SLOs, the incidents that spent their error budget, the maintenance
windows excluded, and every check's availability over a period, from the
controller's data directory (it may be running). The html format is a
self-contained monthly report that prints cleanly to PDF.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := config.Load(file)
			if err != nil {
				return fmt.Errorf("configuration:\n%w", err)
			}
			start, end, err := period(from, to, month, time.Now().UTC())
			if err != nil {
				return err
			}
			if format != "table" && format != "json" && format != "csv" && format != "html" {
				return fmt.Errorf("--format: %q is not table, json, csv or html", format)
			}
			if database == "" {
				// Read an existing database only: a report never makes an
				// empty one and calls every SLO met.
				if database, err = findDatabase(data); err != nil {
					return err
				}
			}
			ctx := cmd.Context()
			st, err := replica.Open(ctx, database, data)
			if err != nil {
				return err
			}
			defer st.Close()
			// Minutes are judged with the regions' health as recorded.
			probes := fleet.NewRegistry()
			spans, err := st.Health(ctx, time.Now().Add(-controller.DefaultRawRetention))
			if err != nil {
				return err
			}
			probes.LoadHealth(spans)
			l := ledger.New(ledger.Options{Store: st, Config: func() *config.Config { return cfg }, HealthyAt: probes.HealthyAtFor})
			// While a controller leads on a shared database it keeps the
			// verdicts current; otherwise the report brings them up to date.
			if !replica.LeaderElsewhere(ctx, st, "") {
				if err := l.EvaluateSlices(ctx); err != nil {
					return err
				}
			}
			r, err := l.Report(ctx, start, end)
			if err != nil {
				return err
			}
			return r.Render(cmd.OutOrStdout(), format)
		},
	}
	f := cmd.Flags()
	f.StringVar(&file, "config", "nines.yaml", "configuration file")
	f.StringVar(&data, "data", "data", "the controller's data directory (or a demo's --data directory)")
	databaseFlag(cmd, &database)
	f.StringVar(&from, "from", "", "start of the period: 2026-10-01 or an RFC 3339 time (default: the first of this month)")
	f.StringVar(&to, "to", "", "end of the period, exclusive (default: now)")
	f.StringVar(&month, "month", "", "a whole calendar month, e.g. 2026-10 (instead of --from and --to)")
	f.StringVar(&format, "format", "table", "table, json, csv or html")
	return cmd
}

// period resolves the report period from the flags.
func period(from, to, month string, now time.Time) (time.Time, time.Time, error) {
	if month != "" {
		if from != "" || to != "" {
			return time.Time{}, time.Time{}, fmt.Errorf("--month: use it instead of --from and --to, not with them")
		}
		m, err := time.Parse("2006-01", month)
		if err != nil {
			return time.Time{}, time.Time{}, fmt.Errorf("--month: %q is not a month such as 2026-10", month)
		}
		return m, m.AddDate(0, 1, 0), nil
	}
	start := time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, time.UTC)
	end := now
	var err error
	if from != "" {
		if start, err = parseWhen(from); err != nil {
			return start, end, fmt.Errorf("--from: %w", err)
		}
	}
	if to != "" {
		if end, err = parseWhen(to); err != nil {
			return start, end, fmt.Errorf("--to: %w", err)
		}
	}
	if !end.After(start) {
		return start, end, fmt.Errorf("--to (%s) must be after --from (%s)", end.Format(time.RFC3339), start.Format(time.RFC3339))
	}
	return start, end, nil
}

func parseWhen(s string) (time.Time, error) {
	if t, err := time.Parse("2006-01-02", s); err == nil {
		return t, nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return t, fmt.Errorf("%q is not a date (2026-10-01) or an RFC 3339 time", s)
	}
	return t.UTC(), nil
}

// findDatabase returns the SQLite database a controller keeps in data, or
// in data/controller as `nines demo` lays it out.
func findDatabase(data string) (string, error) {
	for _, p := range []string{filepath.Join(data, "nines.db"), filepath.Join(data, "controller", "nines.db")} {
		if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() {
			return p, nil
		}
	}
	return "", fmt.Errorf("--data: no controller database in %s (looked for nines.db there and in controller/); "+
		"give the directory the controller runs with (--data), or --database", data)
}
