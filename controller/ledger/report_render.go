package ledger

import (
	_ "embed"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"html/template"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// Render writes the report as table, json, csv or html.
func (r SLAReport) Render(w io.Writer, format string) error {
	switch format {
	case "table", "":
		return r.table(w)
	case "json":
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(r)
	case "csv":
		return r.csv(w)
	case "html":
		return reportTemplate.Execute(w, r)
	}
	return fmt.Errorf("--format: %q is not table, json, csv or html", format)
}

func pct(v *float64) string {
	if v == nil {
		return "n/a"
	}
	return strconv.FormatFloat(*v*100, 'f', 3, 64) + "%"
}

func (r SLAReport) table(w io.Writer) error {
	fmt.Fprintf(w, "SLA report %s to %s\n\n", r.From.Format(time.RFC3339), r.To.Format(time.RFC3339))
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SLO\tSLI\tTARGET\tACHIEVED\tMET\tBUDGET\tSPENT\tLEFT\tEXCLUDED\tINCIDENTS")
	for _, s := range r.SLOs {
		kind, excluded := s.SLI, ""
		switch {
		case s.Minutes != nil:
			excluded = fmt.Sprintf("%d maint + %d unknown min", s.Minutes.Maintenance, s.Minutes.Unknown)
		case s.SLI == "events":
			kind = fmt.Sprintf("events (%s)", s.Source)
			if s.Source == "" {
				kind = "events (none yet)"
			}
		default:
			kind = fmt.Sprintf("latency < %dms", s.ThresholdMS)
		}
		fmt.Fprintf(tw, "%s\t%s\t%g%%\t%s\t%s\t%.1f %s\t%.0f\t%.1f%%\t%s\t%d\n", s.ID, kind, s.Target, pct(s.Value), metWord(s),
			s.ErrorBudget.Total, s.ErrorBudget.Unit, s.ErrorBudget.Consumed, s.ErrorBudget.RemainingRatio*100, excluded, len(s.Incidents))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, s := range r.SLOs {
		for _, in := range s.Incidents {
			fmt.Fprintf(w, "  %s: down %s to %s (%d min, %.1f%% of the budget)\n", s.ID, in.Start.Format(time.RFC3339), in.End.Format(time.RFC3339),
				in.Minutes, in.BudgetShare*100)
		}
	}
	for _, m := range r.Maintenance {
		fmt.Fprintf(w, "  maintenance %s: %s to %s (%s) %s\n", m.ID, m.Start.Format(time.RFC3339), m.End.Format(time.RFC3339), strings.Join(m.Checks, ", "), m.Reason)
	}
	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "CHECK\tCOMPONENT\tAVAILABILITY\tGOOD MIN\tBAD MIN\tMAINT MIN\tUNKNOWN MIN")
	for _, c := range r.Checks {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%d\t%d\n", c.ID, c.Component, pct(c.Availability), c.Minutes.Good, c.Minutes.Bad, c.Minutes.Maintenance, c.Minutes.Unknown)
	}
	return tw.Flush()
}

func (r SLAReport) csv(w io.Writer) error {
	cw := csv.NewWriter(w)
	cw.Write([]string{"slo", "sli", "from", "to", "target", "sli_value", "met", "budget_unit", "budget", "consumed", "remaining",
		"remaining_ratio", "good", "bad", "maintenance_minutes", "unknown_minutes", "incidents"})
	f := func(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }
	for _, s := range r.SLOs {
		sli := ""
		if s.Value != nil {
			sli = f(*s.Value)
		}
		good, bad, maint, unknown := "", "", "", ""
		if m := s.Minutes; m != nil {
			good, bad, maint, unknown = strconv.Itoa(m.Good), strconv.Itoa(m.Bad), strconv.Itoa(m.Maintenance), strconv.Itoa(m.Unknown)
		} else if e := s.Events; e != nil {
			good, bad = strconv.Itoa(e.Good), strconv.Itoa(e.Bad)
		}
		cw.Write([]string{s.ID, s.SLI, r.From.Format(time.RFC3339), r.To.Format(time.RFC3339), f(s.Target), sli, metWord(s),
			s.ErrorBudget.Unit, f(s.ErrorBudget.Total), f(s.ErrorBudget.Consumed), f(s.ErrorBudget.Remaining), f(s.ErrorBudget.RemainingRatio),
			good, bad, maint, unknown, strconv.Itoa(len(s.Incidents))})
	}
	cw.Flush()
	return cw.Error()
}

//go:embed report.html
var reportHTML string

var reportTemplate = template.Must(template.New("report").Funcs(template.FuncMap{
	"pct":  pct,
	"time": func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04 UTC") },
	"f1":   func(v float64) string { return strconv.FormatFloat(v, 'f', 1, 64) },
	"share": func(v float64) string {
		return strconv.FormatFloat(v*100, 'f', 1, 64) + "%"
	},
	"join": strings.Join,
}).Parse(reportHTML))

// metWord says whether an SLO met its target over the period, or that the
// period has no data to say.
func metWord(s SLOPeriodReport) string {
	if s.NoData {
		return "no data"
	}
	return strconv.FormatBool(s.Met)
}
