package e2e

import (
	"bytes"
	"database/sql"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	_ "github.com/mattn/go-sqlite3"

	"github.com/nines-sre/nines/internal/testwait"
)

type key struct {
	Check     string    `json:"check"`
	Region    string    `json:"region"`
	Scheduled time.Time `json:"scheduled"`
}

func spooledKeys(t *testing.T, path string) map[string]bool {
	t.Helper()
	db, err := sql.Open("sqlite3", "file:"+path+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.Query(`SELECT body FROM spool`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[string]bool{}
	for rows.Next() {
		var b []byte
		var k key
		rows.Scan(&b)
		if err := json.Unmarshal(b, &k); err != nil {
			t.Fatal(err)
		}
		out[fmt.Sprintf("%s/%s/%d", k.Check, k.Region, k.Scheduled.UnixMilli())] = true
	}
	return out
}

// TestKilledProbeLosesNothingSpooled: a probe killed in the middle of its
// runs, while the controller is away, ships after its restart every result
// it had written to its spool.
func TestKilledProbeLosesNothingSpooled(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	t.Parallel()
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(300 * time.Millisecond) // runs are in flight when the kill comes
		w.Write([]byte("ok"))
	}))
	defer slow.Close()
	dir := t.TempDir()
	var cfg bytes.Buffer
	fmt.Fprintf(&cfg, "regions: [{id: eu-london}]\nquorum: 1\nprobes:\n  heartbeat_interval: 500ms\n  tokens: [{region: eu-london, token_file: token}]\ncomponents:\n  - id: c\n    checks:\n")
	for i := range 5 {
		fmt.Fprintf(&cfg, "      - {id: k%d, kind: http, interval: 1s, timeout: 900ms, http: {url: %q}}\n", i, slow.URL)
	}
	os.WriteFile(filepath.Join(dir, "token"), []byte("kill-test-token-00001\n"), 0o600)
	cfgPath := filepath.Join(dir, "nines.yaml")
	os.WriteFile(cfgPath, cfg.Bytes(), 0o644)
	ctl := freeAddr(t)
	ctlArgs := []string{"controller", "--config", cfgPath, "--data", filepath.Join(dir, "ctl"), "--listen", ctl}
	spool := filepath.Join(dir, "spool.db")
	probeArgs := []string{"probe", "--region", "eu-london", "--controller", "http://" + ctl, "--token-file", filepath.Join(dir, "token"),
		"--probe-id", "p1", "--spool", spool, "--listen", "", "--max-backoff", "500ms"}

	controller := start(t, dir, "controller", ctlArgs...)
	probe := start(t, dir, "probe", probeArgs...)
	waitFor(t, ctl, "k0 reported", 20*time.Second, func(s *status) bool { return s.Check("k0").Regions["eu-london"].Status == "up" })
	controller.Stop(syscall.SIGKILL)
	// The controller away, the probe spools; it is killed once it holds
	// ten results, with runs in flight.
	testwait.Eventually(t, 10*time.Second, "ten results spooled while the controller is away", func() error {
		if n := len(spooledKeys(t, spool)); n < 10 {
			return fmt.Errorf("%d spooled", n)
		}
		return nil
	})
	probe.Stop(syscall.SIGKILL)
	spooled := spooledKeys(t, spool)

	controller = start(t, dir, "controller", ctlArgs...)
	probe = start(t, dir, "probe", probeArgs...)
	defer func() {
		if t.Failed() {
			probe.Tail(t)
			controller.Tail(t)
		}
	}()
	stored := map[string]bool{}
	missing := func() int {
		for i := range 5 {
			var res struct{ Results []key }
			if err := getJSON(fmt.Sprintf("http://%s/api/v1/results?check=k%d&since=%s&limit=10000", ctl, i,
				time.Now().Add(-time.Hour).UTC().Format(time.RFC3339)), &res); err != nil {
				continue
			}
			for _, k := range res.Results {
				stored[fmt.Sprintf("%s/%s/%d", k.Check, k.Region, k.Scheduled.UnixMilli())] = true
			}
		}
		n := 0
		for k := range spooled {
			if !stored[k] {
				n++
			}
		}
		return n
	}
	testwait.Eventually(t, 20*time.Second, "every spooled result stored", func() error {
		if n := missing(); n > 0 {
			return fmt.Errorf("%d not stored yet", n)
		}
		return nil
	})
	lost := 0
	for k := range spooled {
		if !stored[k] {
			lost++
			t.Errorf("spooled before the kill, never stored: %s", k)
		}
	}
	t.Logf("%d results were in the spool at the kill; %d lost", len(spooled), lost)
}
