package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A probe's /metrics and /healthz answer on loopback unless told
// otherwise: a probe on a shared host shows nothing to its neighbours.
func TestHostileProbeMetricsOnLoopbackByDefault(t *testing.T) {
	cmd := ProbeCommand("probe", &Globals{})
	if got := cmd.Flags().Lookup("listen").DefValue; got != "127.0.0.1:9464" {
		t.Fatalf("--listen defaults to %q", got)
	}
}

// The lean probe links no browser driver: asked for one, it says which
// binary has it, before it starts anything.
func TestLeanProbeRefusesABrowser(t *testing.T) {
	g := &Globals{}
	cmd := ProbeCommand("nines-probe", g)
	g.Flags(cmd)
	tok := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tok, []byte("probe-token-0123456789"), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd.SetArgs([]string{"--region", "eu-london", "--controller", "http://127.0.0.1:9", "--token-file", tok, "--browser", "/bin/sh"})
	cmd.SilenceUsage, cmd.SilenceErrors = true, true
	err := cmd.Execute()
	if err == nil || !strings.Contains(err.Error(), "nines-probe runs no browser checks") || !strings.Contains(err.Error(), "nines probe --browser /bin/sh") {
		t.Fatalf("err %v", err)
	}
}
