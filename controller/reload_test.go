package controller

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/nines-sre/nines/config"
	"github.com/nines-sre/nines/controller/live"
	"github.com/nines-sre/nines/internal/testwait"
)

func TestReloadOnChangeKeepsOldConfigWhenBad(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "nines.yaml")
	if err := os.WriteFile(path, []byte(testConfig), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	ready := make(chan string, 1)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, Options{Config: cfg, DataDir: filepath.Join(dir, "data"), Listen: "127.0.0.1:0", Ready: ready, Registry: reg,
			Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), ConfigFile: path, ReloadEvery: 50 * time.Millisecond})
	}()
	defer func() { cancel(); <-done }()
	base := "http://" + <-ready
	status := func() live.StatusResponse {
		resp, err := http.Get(base + "/api/v1/status")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var s live.StatusResponse
		json.NewDecoder(resp.Body).Decode(&s)
		return s
	}
	waitUntil := func(what string, cond func(live.StatusResponse) bool) live.StatusResponse {
		var s live.StatusResponse
		testwait.Eventually(t, 5*time.Second, what, func() error {
			if s = status(); !cond(s) {
				return fmt.Errorf("last status %+v", s.Config)
			}
			return nil
		})
		return s
	}
	v1 := status().ConfigVersion

	added := testConfig + "      - {id: api-search, kind: http, http: {url: \"http://127.0.0.1:9/search\"}}\n"
	os.WriteFile(path, []byte(added), 0o644)
	s := waitUntil("the new check appears", func(s live.StatusResponse) bool { return len(s.Components[0].Checks) == 3 })
	if s.ConfigVersion == v1 || !s.Config.Succeeded {
		t.Fatalf("after a good reload: %+v", s.Config)
	}
	v2 := s.ConfigVersion

	os.WriteFile(path, []byte(strings.Replace(added, "kind: http, http: {url: \"http://127.0.0.1:9/search\"}", "kind: smtp", 1)), 0o644)
	s = waitUntil("the bad reload is reported", func(s live.StatusResponse) bool { return s.Config.Error != "" })
	if s.ConfigVersion != v2 || len(s.Components[0].Checks) != 3 || !strings.Contains(s.Config.Error, `"smtp" is not a known check kind`) {
		t.Fatalf("after a bad reload the old config must stay: version %s, %d checks, %+v", s.ConfigVersion, len(s.Components[0].Checks), s.Config)
	}
	if v := testutil.ToFloat64(gaugeOf(t, reg, "nines_config_last_reload_successful", nil)); v != 0 {
		t.Fatalf("nines_config_last_reload_successful = %v after a failed reload", v)
	}
}
