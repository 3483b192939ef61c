package alerting_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nines-sre/nines/alerting"
	"github.com/nines-sre/nines/alerting/notify"
	"github.com/nines-sre/nines/alerting/pagerdutytest"
	"github.com/nines-sre/nines/controller/store/sqlite/sqlitetest"
	"github.com/nines-sre/nines/internal/testwait"
)

// hanging is a webhook receiver that accepts connections and never
// answers, counting how many requests are held at once.
type hanging struct {
	*httptest.Server
	held, peak atomic.Int64
	release    chan struct{}
}

func newHanging(t *testing.T) *hanging {
	h := &hanging{release: make(chan struct{})}
	h.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := h.held.Add(1)
		defer h.held.Add(-1)
		for {
			p := h.peak.Load()
			if n <= p || h.peak.CompareAndSwap(p, n) {
				break
			}
		}
		select {
		case <-h.release:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(func() {
		close(h.release)
		h.Close()
	})
	return h
}

// A page queued behind a thousand status page subscribers whose webhooks
// never answer, a Slack webhook that never answers and a ticket notifier
// that never answers is delivered at once: each destination has its own
// lane, and the subscribers' lane holds at most SharedWorkers requests.
func TestPageNeverWaitsBehindHangingReceivers(t *testing.T) {
	st := sqlitetest.Open(t)
	pd := pagerdutytest.New()
	t.Cleanup(pd.Close)
	hang := newHanging(t)
	client := &http.Client{Timeout: time.Minute}
	notifiers := map[string]alerting.Notifier{
		"pd":     notify.NewPagerDuty("ROUTINGROUTINGROUTINGROUTING0001", pd.URL, client),
		"slack":  &notify.Webhook{URL: hang.URL + "/slack", Secret: []byte("s"), Client: client},
		"ticket": &notify.Webhook{URL: hang.URL + "/ticket", Secret: []byte("s"), Client: client},
	}
	const subscribers = 1000
	for i := range subscribers {
		notifiers[fmt.Sprintf("subscriber:%d", i)] = &notify.Webhook{URL: hang.URL + "/sub", Secret: []byte("s"), Client: client}
	}
	d := alerting.NewDispatcher(st, func() map[string]alerting.Notifier { return notifiers }, slog.New(slog.DiscardHandler), time.Now, nil)
	d.Timeout = time.Minute // longer than the test: a hanging receiver holds its worker throughout
	ctx := context.Background()
	now := time.Now()

	// The subscribers' notifications and the hanging ones are queued first.
	var subs []alerting.Notification
	for i := range subscribers {
		subs = append(subs, alerting.Notification{Notifier: fmt.Sprintf("subscriber:%d", i), CreatedAt: now, NextAt: now,
			Message: alerting.Message{AlertKey: "status:incident-1-opened", Action: alerting.ActionTrigger, Summary: "Segments API down", At: now}})
	}
	if _, err := st.EnqueueNotifications(ctx, "status:incident-1-opened", subs); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"slack", "ticket"} {
		a := &alerting.Alert{Key: "group:" + n, State: alerting.StateFiring, PendingSince: now}
		note := alerting.Notification{Notifier: n, CreatedAt: now, NextAt: now,
			Message: alerting.Message{AlertKey: a.Key, Action: alerting.ActionTrigger, Summary: "x", Severity: "warning", Source: "t", At: now}}
		if err := st.SaveAlert(ctx, a, []alerting.Notification{note}, now); err != nil {
			t.Fatal(err)
		}
	}
	goroutines := runtime.NumGoroutine()
	runCtx, cancel := context.WithCancel(ctx)
	wake := make(chan struct{}, 1)
	var wg sync.WaitGroup
	wg.Go(func() { d.Run(runCtx, wake) })
	t.Cleanup(func() {
		cancel()
		wg.Wait()
	})
	want := int64(d.SharedWorkers + 2) // every subscriber worker, Slack and the ticket
	testwait.Eventually(t, 10*time.Second, "every lane's workers held by the hanging receivers", func() error {
		if n := hang.held.Load(); n != want {
			return fmt.Errorf("%d requests held, want %d", n, want)
		}
		return nil
	})

	// Now the page.
	page := &alerting.Alert{Key: "group:page", State: alerting.StateFiring, PendingSince: now}
	queued := time.Now()
	note := alerting.Notification{Notifier: "pd", CreatedAt: queued, NextAt: queued, Message: alerting.Message{AlertKey: page.Key,
		Action: alerting.ActionTrigger, Summary: "Segments API down in 7 of 7 regions", Severity: "critical", Source: "nines", At: queued}}
	if err := st.SaveAlert(ctx, page, []alerting.Notification{note}, queued); err != nil {
		t.Fatal(err)
	}
	wake <- struct{}{}
	testwait.Eventually(t, 10*time.Second, "the page delivered", func() error {
		if len(pd.Incidents()) != 1 {
			return fmt.Errorf("no PagerDuty incident yet")
		}
		return nil
	})
	t.Logf("page received %s after it was queued, behind %d hanging subscribers, Slack and a ticket", pd.Events()[0].At.Sub(queued).Round(time.Millisecond), subscribers)
	if p := hang.peak.Load(); p > want {
		t.Fatalf("%d requests to hanging receivers at once, want at most %d", p, want)
	}
	if g := runtime.NumGoroutine() - goroutines; g > 4*d.SharedWorkers+20 {
		t.Fatalf("%d more goroutines with a thousand subscribers pending", g)
	}
	if v := pd.Violations(); len(v) > 0 {
		t.Fatal(v)
	}
}

// A notification being delivered is never handed out again, and the
// resolve of an alert waits for its trigger, however many workers a lane
// has.
func TestLaneKeepsOrderPerAlert(t *testing.T) {
	st := sqlitetest.Open(t)
	var mu sync.Mutex
	var got []string
	started, slow := make(chan struct{}), make(chan struct{})
	rec := notifierFunc(func(ctx context.Context, m alerting.Message) error {
		if m.Action == alerting.ActionTrigger {
			close(started)
			<-slow
		}
		mu.Lock()
		got = append(got, m.AlertKey+"/"+string(m.Action))
		mu.Unlock()
		return nil
	})
	d := alerting.NewDispatcher(st, func() map[string]alerting.Notifier { return map[string]alerting.Notifier{"hook": rec} },
		slog.New(slog.DiscardHandler), time.Now, nil)
	ctx := context.Background()
	now := time.Now()
	a := &alerting.Alert{Key: "group:page", State: alerting.StateFiring, PendingSince: now}
	mk := func(act alerting.Action) alerting.Notification {
		return alerting.Notification{Notifier: "hook", CreatedAt: now, NextAt: now, Message: alerting.Message{AlertKey: a.Key, Action: act, At: now}}
	}
	if err := st.SaveAlert(ctx, a, []alerting.Notification{mk(alerting.ActionTrigger), mk(alerting.ActionResolve)}, now); err != nil {
		t.Fatal(err)
	}
	var first sync.WaitGroup
	first.Go(func() { d.DeliverDue(ctx) })
	<-started
	for range 3 { // passes while the trigger is being delivered
		if n, err := d.DeliverDue(ctx); n != 0 || err != nil {
			t.Fatalf("a pass during the trigger's delivery tried %d (%v)", n, err)
		}
	}
	close(slow)
	first.Wait()
	if n, err := d.DeliverDue(ctx); n != 1 || err != nil {
		t.Fatalf("after the trigger, a pass tried %d (%v)", n, err)
	}
	mu.Lock()
	defer mu.Unlock()
	if fmt.Sprint(got) != "[group:page/trigger group:page/resolve]" {
		t.Fatalf("delivered %v", got)
	}
}

type notifierFunc func(ctx context.Context, m alerting.Message) error

func (f notifierFunc) Notify(ctx context.Context, m alerting.Message) error { return f(ctx, m) }
