package controller

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/nines-sre/nines/config"
	"github.com/nines-sre/nines/controller/confirm"
	"github.com/nines-sre/nines/controller/live"
	"github.com/nines-sre/nines/controller/store/postgres"
	"github.com/nines-sre/nines/controller/store/postgres/pgtest"
	"github.com/nines-sre/nines/internal/testwait"
	"github.com/nines-sre/nines/model"
)

// PostgreSQL carries confirmation rounds between replicas.
var _ confirm.Notices = (*postgres.Store)(nil)

// TestReplicasShareProbesAndResultsAndHandOver runs two controllers in this
// process over one PostgreSQL schema: what a probe tells one, the other
// shows, and a confirmation round one asks reaches the probes polling the
// other; one leads; when it stops, the other takes over.
func TestReplicasShareProbesAndResultsAndHandOver(t *testing.T) {
	database := pgtest.Schema(t, pgtest.DSN(t))
	cfg, err := config.Parse("test.yaml", []byte(testConfig))
	if err != nil {
		t.Fatal(err)
	}
	type replica struct {
		base string
		stop context.CancelFunc
		done chan error
	}
	start := func(name string) *replica {
		ready := make(chan string, 1)
		ctx, cancel := context.WithCancel(context.Background())
		r := &replica{stop: cancel, done: make(chan error, 1)}
		go func() {
			r.done <- Run(ctx, Options{Config: cfg, DataDir: t.TempDir(), Database: database, Replica: name, LeaseTTL: time.Second,
				SyncEvery: 100 * time.Millisecond, Listen: "127.0.0.1:0", Ready: ready, Registry: prometheus.NewRegistry(),
				Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
		}()
		select {
		case addr := <-ready:
			r.base = "http://" + addr
		case err := <-r.done:
			t.Fatalf("replica %s: %v", name, err)
		}
		t.Cleanup(func() { cancel(); <-r.done })
		return r
	}
	a, b := start("a"), start("b")
	post := func(base, path, region string, body any) {
		t.Helper()
		js, _ := json.Marshal(body)
		req, _ := http.NewRequest("POST", base+path, bytes.NewReader(js))
		req.Header.Set("Authorization", "Bearer "+tokens[region])
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("POST %s%s: %d", base, path, resp.StatusCode)
		}
	}
	get := func(base, path string, v any) {
		t.Helper()
		resp, err := http.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
			t.Fatal(err)
		}
	}
	eventually := func(what string, cond func() bool) {
		t.Helper()
		testwait.Eventually(t, 5*time.Second, what, func() error {
			if !cond() {
				return errors.New("not yet")
			}
			return nil
		})
	}
	// Every region's probe talks to replica a only: api-health is up, then
	// fails. The first failure asks a confirmation round on a, which
	// reaches a probe that polls b.
	now := time.Now()
	for region := range tokens {
		post(a.base, "/api/v1/probes/heartbeat", region, model.Heartbeat{Probe: "p-" + region, Region: region, StartedAt: now, SentAt: now})
		post(a.base, "/api/v1/results", region, model.ResultBatch{Probe: "p-" + region, Results: []model.Result{{Check: "api-health", Region: region,
			Scheduled: now.Truncate(time.Second), Started: now, Probe: "p-" + region, DurationUS: 900, Outcome: model.OutcomeUp,
			HTTPStatus: 200}}})
	}
	checkOn := func(base string) (status model.Status, healthy int) {
		var s live.StatusResponse
		get(base, "/api/v1/status", &s)
		for _, r := range s.Regions {
			if r.Healthy {
				healthy++
			}
		}
		for _, c := range s.Components {
			for _, ch := range c.Checks {
				if ch.ID == "api-health" {
					status = ch.Status
				}
			}
		}
		return status, healthy
	}
	eventually("replica b shows api-health up", func() bool {
		st, healthy := checkOn(b.base)
		return st == model.StatusUp && healthy == len(tokens)
	})
	// A round told while b does not listen yet is lost to it.
	eventually("replica b listening for the rounds of the others", func() bool {
		resp, err := http.Get(b.base + "/metrics")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return bytes.Contains(body, []byte("\nnines_confirm_listening 1\n"))
	})
	polled := make(chan model.ConfirmRequests, 1)
	go func() {
		req, _ := http.NewRequest("GET", b.base+"/api/v1/probes/confirm?probe=p-ap-tokyo", nil)
		req.Header.Set("Authorization", "Bearer "+tokens["ap-tokyo"])
		var got model.ConfirmRequests
		if resp, err := http.DefaultClient.Do(req); err == nil {
			json.NewDecoder(resp.Body).Decode(&got)
			resp.Body.Close()
		}
		polled <- got
	}()
	time.Sleep(200 * time.Millisecond) // the long-poll held on b
	for region := range tokens {
		post(a.base, "/api/v1/results", region, model.ResultBatch{Probe: "p-" + region, Results: []model.Result{{Check: "api-health", Region: region,
			Scheduled: now.Truncate(time.Second).Add(time.Second), Started: now, Probe: "p-" + region, DurationUS: 900, Outcome: model.OutcomeDown, HTTPStatus: 503,
			ErrorClass: model.ErrStatus}}})
	}
	select {
	case got := <-polled:
		if len(got.Requests) != 1 || got.Requests[0].Check != "api-health" {
			t.Fatalf("ap-tokyo's long-poll on replica b: %+v, want the round asked on a", got)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the round asked on replica a did not reach the probe polling b")
	}
	// The on-demand runs confirm the failure through b; a learns of them
	// by replica sync, and its round is answered.
	for region := range tokens {
		post(b.base, "/api/v1/results", region, model.ResultBatch{Probe: "p-" + region, Results: []model.Result{{Check: "api-health", Region: region,
			Scheduled: now.Truncate(time.Second).Add(2 * time.Second), Started: now, Probe: "p-" + region, DurationUS: 900, Outcome: model.OutcomeDown,
			HTTPStatus: 503, ErrorClass: model.ErrStatus, OnDemand: true}}})
	}
	eventually("replica a's round answered", func() bool {
		resp, err := http.Get(a.base + "/metrics")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return bytes.Contains(b, []byte("\nnines_confirm_rounds_answered_total 1\n"))
	})
	eventually("replica b shows what the probes told a", func() bool {
		st, healthy := checkOn(b.base)
		return st == model.StatusDown && healthy == len(tokens)
	})
	leading := func(base string) bool {
		var v struct{ Leading bool }
		get(base, "/api/v1/leader", &v)
		return v.Leading
	}
	eventually("one leader", func() bool { return leading(a.base) != leading(b.base) })
	first, second := a, b
	if leading(b.base) {
		first, second = b, a
	}
	// The leader made the day partitions from the oldest day not packed
	// to two days ahead.
	eventually("day partitions made", func() bool {
		var n int
		st, err := postgres.Open(context.Background(), database)
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		parts, err := st.Partitions(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		for range parts {
			n++
		}
		return n >= int(packAfter/(24*time.Hour))+2
	})
	// A report (nines sla) opening the same database sees the leader.
	reporter, err := New(context.Background(), Options{Config: cfg, DataDir: t.TempDir(), Database: database, Replica: "report",
		Registry: prometheus.NewRegistry(), Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	if !reporter.OtherLeaderAlive(context.Background()) {
		t.Error("a report does not see the leader")
	}
	reporter.Close()
	first.stop()
	<-first.done
	first.done <- nil // for the cleanup
	eventually("the other replica leads", func() bool { return leading(second.base) })
}
