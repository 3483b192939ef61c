package cli

import "testing"

// A probe's /metrics and /healthz answer on loopback unless told
// otherwise: a probe on a shared host shows nothing to its neighbours.
func TestHostileProbeMetricsOnLoopbackByDefault(t *testing.T) {
	cmd := ProbeCommand("probe", &Globals{})
	if got := cmd.Flags().Lookup("listen").DefValue; got != "127.0.0.1:9464" {
		t.Fatalf("--listen defaults to %q", got)
	}
}
