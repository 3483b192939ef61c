package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/nines-sre/nines/demo"
)

// faultCmd stages or clears a fault on a running contentsvc.
func faultCmd() *cobra.Command {
	var url, target, region, country, token string
	var latency, duration time.Duration
	var status int
	var rate float64
	var outage, clear bool
	cmd := &cobra.Command{
		Use:   "fault",
		Short: "Inject a fault into a running contentsvc (latency, error status, error rate, outage), or clear every fault",
		Example: `  nines contentsvc fault --target segments --region eu-frankfurt --status 503 --for 5m
  nines contentsvc fault --target cdn --outage
  nines contentsvc fault --clear`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if !cmd.Flags().Changed("url") {
				// The running demo's contentsvc, when there is one.
				if u, err := demo.ContentsvcURL(demo.Locate(demo.DefaultDataDir, false)); err == nil {
					url = u
				}
			}
			base := strings.TrimRight(url, "/") + "/admin/faults"
			var req *http.Request
			if clear {
				req, _ = http.NewRequestWithContext(cmd.Context(), http.MethodDelete, base, nil)
			} else {
				f := map[string]any{"target": target, "region": region, "country": country, "latency_ms": latency.Milliseconds(), "error_status": status,
					"error_rate": rate, "outage": outage, "duration_s": int(duration.Seconds())}
				body, _ := json.Marshal(f)
				req, _ = http.NewRequestWithContext(cmd.Context(), http.MethodPost, base, bytes.NewReader(body))
				req.Header.Set("Content-Type", "application/json")
			}
			if token != "" {
				req.Header.Set("Authorization", "Bearer "+token)
			}
			resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
			if err != nil {
				return fmt.Errorf("contentsvc at %s: %w", url, err)
			}
			defer resp.Body.Close()
			out, _ := io.ReadAll(resp.Body)
			if resp.StatusCode/100 != 2 {
				return fmt.Errorf("contentsvc answered %d: %s", resp.StatusCode, bytes.TrimSpace(out))
			}
			fmt.Fprintln(cmd.OutOrStdout(), strings.TrimSpace(string(out)))
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&url, "url", "http://127.0.0.1:8081", "contentsvc base URL (default: the running demo's, if any)")
	f.StringVar(&token, "token", "", "admin bearer token, when contentsvc requires one")
	f.StringVar(&target, "target", "all", "segments, cdn, all (not the pipeline) or pipeline (the publish job)")
	f.StringVar(&region, "region", "", "only requests from this probe region (X-Nines-Region); empty: every region")
	f.StringVar(&country, "country", "", "only requests of real users in this country (ISO 3166 alpha-2, as their edge tells it); empty: every client")
	f.DurationVar(&latency, "latency", 0, "added latency")
	f.IntVar(&status, "status", 0, "answer with this 4xx or 5xx status")
	f.Float64Var(&rate, "rate", 0, "share of requests that get --status (default all)")
	f.BoolVar(&outage, "outage", false, "drop connections without an answer")
	f.DurationVar(&duration, "for", 0, "clear the fault by itself after this long (0: until cleared)")
	f.BoolVar(&clear, "clear", false, "clear every fault")
	return cmd
}
