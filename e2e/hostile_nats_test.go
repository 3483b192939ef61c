package e2e

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/nines-sre/nines/config"
	"github.com/nines-sre/nines/controller"
	"github.com/nines-sre/nines/internal/testwait"
	"github.com/nines-sre/nines/model"
	"github.com/nines-sre/nines/probe"
	"github.com/nines-sre/nines/transport"
)

// TestHostileNATSDeploymentsKeepToThemselves: two deployments with checks of the
// same name share one NATS server, one in its token's scope and one in a
// named deployment's. A listener to every subject overhears no token. Each stores its own probe's results and nothing of
// the other's; a batch whose check the configuration does not hold yet is
// kept in the stream and stored once a reload adds the check.
func TestHostileNATSDeploymentsKeepToThemselves(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	t.Parallel()
	salt := make([]byte, 6)
	_, _ = rand.Read(salt)
	tag := hex.EncodeToString(salt)
	tokA, tokB, depB := "nats-a-token-"+tag, "nats-b-token-"+tag, "b"+tag
	scopeA := tokenScope(tokA)
	url := natsServer(t, scopeA, depB)
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }))
	defer target.Close()

	configText := func(token, nats string, checks ...string) string {
		var b bytes.Buffer
		fmt.Fprintf(&b, "regions: [{id: eu-london}]\nquorum: 1\n%sprobes:\n  heartbeat_interval: 500ms\n  tokens: [{region: eu-london, token: %s}]\ncomponents:\n  - id: c\n    checks:\n", nats, token)
		for _, id := range checks {
			fmt.Fprintf(&b, "      - {id: %s, kind: http, interval: 1s, timeout: 500ms, http: {url: %q}}\n", id, target.URL)
		}
		return b.String()
	}
	dir := t.TempDir()
	fileA := filepath.Join(dir, "a.yaml")
	if err := os.WriteFile(fileA, []byte(configText(tokA, "", "shared", "a1")), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var done []chan error
	defer func() {
		cancel()
		for _, d := range done {
			<-d
		}
	}()
	start := func(what string, run func(ready chan string) error) string {
		d, ready := make(chan error, 1), make(chan string, 1)
		done = append(done, d)
		go func() { d <- run(ready) }()
		select {
		case addr := <-ready:
			return addr
		case err := <-d:
			t.Fatalf("%s: %v", what, err)
		case <-time.After(20 * time.Second):
			t.Fatalf("%s did not start", what)
		}
		return ""
	}
	runController := func(name, file, text string) string {
		cfg, err := config.Parse(name+".yaml", []byte(text))
		if err != nil {
			t.Fatal(err)
		}
		return start("controller "+name, func(ready chan string) error {
			return controller.Run(ctx, controller.Options{Config: cfg, ConfigFile: file, ReloadEvery: 300 * time.Millisecond, DataDir: filepath.Join(dir, name),
				Listen: "127.0.0.1:0", Logger: quiet, Registry: prometheus.NewRegistry(), NATSURL: url, NATSWait: time.Second, Ready: ready})
		})
	}
	textA, _ := os.ReadFile(fileA)
	ctlA := runController("a", fileA, string(textA))
	ctlB := runController("b", "", configText(tokB, "nats: {deployment: "+depB+"}\n", "shared", "b1"))
	runProbe := func(id, ctl, token string) {
		start("probe "+id, func(ready chan string) error {
			return probe.Run(ctx, probe.Options{Region: "eu-london", ProbeID: id, Controller: "http://" + ctl, Token: token, Listen: "127.0.0.1:0", Ready: ready,
				SpoolPath: filepath.Join(dir, id+".db"), NATSURL: url, Logger: quiet, Registry: prometheus.NewRegistry(), MaxBackoff: 500 * time.Millisecond})
		})
	}
	runProbe("probe-a", ctlA, tokA)
	runProbe("probe-b", ctlB, tokB)

	type results struct {
		Results []struct {
			Check string `json:"check"`
			Probe string `json:"probe"`
		} `json:"results"`
	}
	probesOf := func(ctl, check string) (map[string]int, error) {
		var res results
		if err := getJSON(fmt.Sprintf("http://%s/api/v1/results?check=%s&limit=10000", ctl, check), &res); err != nil {
			return nil, err
		}
		seen := map[string]int{}
		for _, r := range res.Results {
			seen[r.Probe]++
		}
		return seen, nil
	}
	want := []struct{ ctl, check, probe string }{{ctlA, "shared", "probe-a"}, {ctlA, "a1", "probe-a"}, {ctlB, "shared", "probe-b"}, {ctlB, "b1", "probe-b"}}
	testwait.Eventually(t, 30*time.Second, "each deployment storing its own probe's results only", func() error {
		var problems []string
		for _, w := range want {
			seen, err := probesOf(w.ctl, w.check)
			if err != nil {
				problems = append(problems, err.Error())
				continue
			}
			if seen[w.probe] < 4 {
				problems = append(problems, fmt.Sprintf("%s: %d results of %s from %s, want 4 or more", w.ctl, seen[w.probe], w.check, w.probe))
			}
			if len(seen) > 1 {
				problems = append(problems, fmt.Sprintf("%s: results of %s from %v, want only %s", w.ctl, w.check, seen, w.probe))
			}
		}
		if len(problems) > 0 {
			return errors.New(strings.Join(problems, "\n"))
		}
		return nil
	})

	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)

	// Another tenant of the server listens to every batch: it sees no
	// token, and what it sees (a key name, a signature) opens no API.
	seen := make(chan *nats.Msg, 256)
	sub, err := nc.ChanSubscribe("nines.batches.>", seen)
	if err != nil {
		t.Fatal(err)
	}
	testwait.Eventually(t, 15*time.Second, "a few batches overheard", func() error {
		if len(seen) < 4 {
			return fmt.Errorf("%d overheard", len(seen))
		}
		return nil
	})
	_ = sub.Unsubscribe()
	for n := len(seen); n > 0; n-- {
		m := <-seen
		raw := fmt.Sprint(m.Header) + string(m.Data)
		if strings.Contains(raw, tokA) || strings.Contains(raw, tokB) || m.Header.Get(transport.TokenHeader) != "" {
			t.Fatalf("a batch on the wire carries a probe token: %v", m.Header)
		}
		if m.Header.Get(transport.KeyHeader) == "" || m.Header.Get(transport.SignatureHeader) == "" {
			t.Fatalf("a batch without its key and signature: %v", m.Header)
		}
		for _, overheard := range []string{m.Header.Get(transport.KeyHeader), m.Header.Get(transport.SignatureHeader)} {
			req, _ := http.NewRequest(http.MethodPost, "http://"+ctlA+"/api/v1/probes/heartbeat", strings.NewReader(`{}`))
			req.Header.Set("Authorization", "Bearer "+overheard)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusUnauthorized && resp.StatusCode != http.StatusTooManyRequests {
				t.Fatalf("what a listener overheard opened the probe API: %d", resp.StatusCode)
			}
		}
	}
	for _, scope := range []string{scopeA, depB} {
		if _, err := js.Stream(ctx, transport.StreamName(scope)); err != nil {
			t.Errorf("stream %s: %v", transport.StreamName(scope), err)
		}
	}

	// A batch of a check deployment A does not hold yet: held, not dropped.
	now := time.Now().Add(-2 * time.Second).Truncate(time.Second)
	batch := model.ResultBatch{Probe: "by-hand", Results: []model.Result{{Check: "later", Region: "eu-london", Scheduled: now, Started: now,
		Probe: "by-hand", DurationUS: 1500, Outcome: model.OutcomeUp, HTTPStatus: 200}}}
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	_ = json.NewEncoder(zw).Encode(batch)
	_ = zw.Close()
	m := nats.NewMsg(transport.Subject(scopeA, "eu-london"))
	m.Header.Set(transport.TokenHeader, tokA)
	m.Header.Set("Content-Encoding", "gzip")
	m.Data = gz.Bytes()
	held := heldBatches(t, ctlA)
	if _, err := js.PublishMsg(ctx, m); err != nil {
		t.Fatal(err)
	}
	// Offered at least twice: held each time, and left in the stream.
	testwait.Eventually(t, 15*time.Second, "the batch of an unknown check held twice", func() error {
		if n := heldBatches(t, ctlA); n < held+2 {
			return fmt.Errorf("held %v times before, %v now", held, n)
		}
		return nil
	})
	stream, err := js.Stream(ctx, transport.StreamName(scopeA))
	if err != nil {
		t.Fatal(err)
	}
	info, err := stream.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.State.Msgs < 1 {
		t.Fatalf("the batch of a check the configuration does not hold left the stream (%d messages): it was dropped", info.State.Msgs)
	}
	if err := os.WriteFile(fileA, []byte(configText(tokA, "", "shared", "a1", "later")), 0o600); err != nil {
		t.Fatal(err)
	}
	testwait.Eventually(t, 20*time.Second, "the held result stored once after the reload added its check", func() error {
		seen, err := probesOf(ctlA, "later")
		if err != nil {
			return err
		}
		if seen["by-hand"] != 1 {
			return fmt.Errorf("results of later by probe: %v", seen)
		}
		return nil
	})
}

// heldBatches is how many batches the controller at ctl held to offer
// again.
func heldBatches(t *testing.T, ctl string) float64 {
	return metric(t, http.DefaultClient, "http://"+ctl+"/metrics", `nines_ingest_batches_total{code="held"}`)
}
