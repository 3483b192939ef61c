package controller

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nines-sre/nines/alerting/notify"
	"github.com/nines-sre/nines/controller/store"
	"github.com/nines-sre/nines/internal/smtptest"
	"github.com/nines-sre/nines/model"
)

var confirmLink = regexp.MustCompile(`http://127\.0\.0\.1:8080/subscribe/confirm\?token=([0-9a-f]+)`)

func subscriptionConfig(smtp string) string {
	return testConfig + fmt.Sprintf(`alerting:
  group_wait: 0s
  dashboard_url: http://127.0.0.1:8080
dashboard:
  subscriptions: {smtp: %q, from: status@example.com, webhooks: true, private_webhooks: true}
`, smtp)
}

// Subscribing by email is double opt-in: a mail with a confirmation link
// (and a one-click unsubscribe header), nothing in force until the link's
// button is pressed; a confirmed subscription cannot be changed by
// someone else; one POST to the unsubscribe link ends it.
func TestEmailSubscription(t *testing.T) {
	mails := smtptest.Start(t)
	h := newHarnessWith(t, subscriptionConfig(mails.Addr))
	form := func(path string, v url.Values) (int, string) {
		t.Helper()
		resp, err := http.PostForm(h.srv.URL+path, v)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	_, page := h.do("GET", "/", "", nil)
	if !strings.Contains(string(page), `<form method="post" action="/subscribe" id="subscribe">`) || !strings.Contains(string(page), `value="api"`) {
		t.Fatal("the status page has no subscription form")
	}
	for v, want := range map[string]string{
		"kind=email&address=not-an-address":               "not an email address",
		"kind=email&address=a@example.com&component=nope": "no component",
		"kind=fax&address=a@example.com":                  "email or webhook",
	} {
		q, _ := url.ParseQuery(v)
		if code, body := form("/subscribe", q); code != 400 || !strings.Contains(body, want) {
			t.Errorf("%s: %d, want 400 saying %q", v, code, want)
		}
	}
	code, body := form("/subscribe", url.Values{"kind": {"email"}, "address": {"ann@example.com"}, "component": {"api"}})
	if code != 200 || !strings.Contains(body, "a…@example.com") || strings.Contains(body, "ann@example.com") {
		t.Fatalf("subscribe: %d\n%s", code, body)
	}
	msgs := mails.Messages()
	if len(msgs) != 1 || msgs[0].To[0] != "ann@example.com" || !strings.Contains(msgs[0].Data, "List-Unsubscribe: <http://127.0.0.1:8080/unsubscribe?token=") ||
		!strings.Contains(msgs[0].Data, "List-Unsubscribe-Post: List-Unsubscribe=One-Click") {
		t.Fatalf("confirmation mail: %+v", msgs)
	}
	m := confirmLink.FindStringSubmatch(msgs[0].Data)
	if m == nil {
		t.Fatalf("no confirmation link in:\n%s", msgs[0].Data)
	}
	token := m[1]
	subs, _ := h.c.store.Subscribers(t.Context())
	if len(subs) != 1 || subs[0].ConfirmedAt != nil {
		t.Fatalf("before the confirmation: %+v", subs)
	}
	// Opening the link (a mail scanner does) shows a button; it confirms
	// nothing.
	if _, page := h.do("GET", "/subscribe/confirm?token="+token, "", nil); !strings.Contains(string(page), `id="confirm"`) {
		t.Fatalf("confirmation page:\n%s", page)
	}
	if subs, _ := h.c.store.Subscribers(t.Context()); subs[0].ConfirmedAt != nil {
		t.Fatal("opening the link confirmed")
	}
	if code, body := form("/subscribe/confirm", url.Values{"token": {token}}); code != 200 || !strings.Contains(body, "Subscribed") {
		t.Fatalf("confirm: %d\n%s", code, body)
	}
	if code, _ := form("/subscribe/confirm", url.Values{"token": {"0000"}}); code != 404 {
		t.Fatalf("a wrong token: %d", code)
	}
	// Someone else subscribes the confirmed address to something else:
	// nothing changes, nothing is sent, and the answer is the same.
	code, _ = form("/subscribe", url.Values{"kind": {"email"}, "address": {"ann@example.com"}})
	if subs, _ := h.c.store.Subscribers(t.Context()); code != 200 || len(mails.Messages()) != 1 || subs[0].Components[0] != "api" {
		t.Fatalf("a second subscription of a confirmed address: %d, %d mails, %+v", code, len(mails.Messages()), subs)
	}
	// One click from the mail client ends it.
	resp, err := http.Post(h.srv.URL+"/unsubscribe?token="+token, "application/x-www-form-urlencoded", strings.NewReader("List-Unsubscribe=One-Click"))
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("one-click unsubscribe: %v %v", resp, err)
	}
	resp.Body.Close()
	if subs, _ := h.c.store.Subscribers(t.Context()); len(subs) != 0 {
		t.Fatalf("after unsubscribing: %+v", subs)
	}
}

// A webhook is subscribed when it answers a test call signed with its
// secret, which the page shows once; one that fails is not kept. Past a
// few subscriptions a client is asked to wait.
func TestWebhookSubscription(t *testing.T) {
	var lastBody, lastSig atomic.Value
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		lastBody.Store(body)
		lastSig.Store(r.Header.Get("X-Nines-Signature"))
		if r.URL.Path != "/ok" {
			http.Error(w, "no", http.StatusNotFound)
		}
	}))
	defer hook.Close()
	h := newHarnessWith(t, subscriptionConfig("127.0.0.1:9"))
	post := func(v url.Values) (int, string) {
		resp, err := http.PostForm(h.srv.URL+"/subscribe", v)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	// A webhook that does not answer 2xx is refused, and not kept.
	code, body := post(url.Values{"kind": {"webhook"}, "address": {hook.URL + "/status"}})
	if code != 400 || !strings.Contains(body, "the signed test call failed: it must answer 2xx") || strings.Contains(body, "404") {
		t.Fatalf("a failing webhook: %d\n%s", code, body)
	}
	if subs, _ := h.c.store.Subscribers(t.Context()); len(subs) != 0 {
		t.Fatalf("kept: %+v", subs)
	}
	code, body = post(url.Values{"kind": {"webhook"}, "address": {hook.URL + "/ok"}})
	secret := regexp.MustCompile(`<code id="secret">([0-9a-f]+)</code>`).FindStringSubmatch(body)
	if code != 200 || secret == nil {
		t.Fatalf("a working webhook: %d\n%s", code, body)
	}
	if sig := lastSig.Load().(string); sig != notify.Sign([]byte(secret[1]), lastBody.Load().([]byte)) {
		t.Fatalf("the test call's signature %q is not the body's with the secret shown", sig)
	}
	if subs, _ := h.c.store.Subscribers(t.Context()); len(subs) != 1 || subs[0].ConfirmedAt == nil || subs[0].Token != secret[1] {
		t.Fatalf("subscribers: %+v", subs)
	}
	// The client has used its burst: the next is refused for a minute.
	codes := map[int]int{}
	for range 5 {
		code, _ := post(url.Values{"kind": {"email"}, "address": {"x"}})
		codes[code]++
	}
	if codes[429] == 0 {
		t.Fatalf("a burst of subscriptions: %v", codes)
	}
}

// Confirmed subscribers hear of an incident when it opens and when it
// resolves, through the outbox, each event once; a subscriber of another
// component hears nothing, and an unconfirmed one nothing at all.
func TestSubscribersHearOfIncidents(t *testing.T) {
	mails := smtptest.Start(t)
	h := newAlertHarnessOf(t, func(pd, hook string) string {
		return alertingConfig(pd, hook) + fmt.Sprintf("dashboard:\n  subscriptions: {smtp: %q, from: status@example.com}\n", mails.Addr)
	})
	ctx := t.Context()
	for i, s := range []store.Subscriber{
		{Kind: "email", Address: "all@example.com", Token: "token-all"},
		{Kind: "email", Address: "api@example.com", Components: []string{"api"}, Token: "token-api"},
		{Kind: "email", Address: "other@example.com", Components: []string{"nothing-here"}, Token: "token-other"},
		{Kind: "email", Address: "unconfirmed@example.com", Token: "token-unconfirmed"},
	} {
		s.CreatedAt = h.clock.Now()
		if _, err := h.c.store.Subscribe(ctx, s); err != nil {
			t.Fatal(err)
		}
		if i < 3 {
			h.c.store.ConfirmSubscriber(ctx, s.Token, h.clock.Now())
		}
	}
	to := func() map[string][]string {
		out := map[string][]string{}
		for _, m := range mails.Messages() {
			subject := ""
			for _, line := range strings.Split(m.Data, "\r\n") {
				if s, ok := strings.CutPrefix(line, "Subject: "); ok {
					subject = s
				}
			}
			out[m.To[0]] = append(out[m.To[0]], subject)
		}
		return out
	}
	h.minute(all(model.OutcomeUp))
	h.minute(all(model.OutcomeDown))
	h.minute(all(model.OutcomeDown))
	h.tick() // the incident's notifications were queued by the last tick's sync
	got := to()
	if len(got["all@example.com"]) != 1 || len(got["api@example.com"]) != 1 || !strings.HasPrefix(got["all@example.com"][0], "[Service status] Investigating: ") {
		t.Fatalf("mails when the incident opened: %v", got)
	}
	if len(got["other@example.com"])+len(got["unconfirmed@example.com"]) != 0 {
		t.Fatalf("mails to the wrong subscribers: %v", got)
	}
	msg := mails.Messages()[0].Data
	if !strings.Contains(msg, "List-Unsubscribe: <http://127.0.0.1:8080/unsubscribe?token=token-") || !strings.Contains(msg, "http://127.0.0.1:8080/incidents/") {
		t.Fatalf("the mail:\n%s", msg)
	}
	// Recovery: one more mail each, saying it resolved.
	h.minute(all(model.OutcomeUp))
	h.clock.Add(3 * time.Minute)
	h.minute(all(model.OutcomeUp))
	h.tick()
	got = to()
	if len(got["all@example.com"]) != 2 || !strings.Contains(got["all@example.com"][1], "Resolved: ") {
		t.Fatalf("mails after recovery: %v", got)
	}
}

// A subscriber's webhook reaches nothing inside, whatever its address
// became since it subscribed (a name rebound to loopback): at delivery
// every connection is checked, and the notification fails without a
// byte reaching the listener.
func TestHostileSubscriberWebhookRebound(t *testing.T) {
	var hits atomic.Int32
	inside := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits.Add(1) }))
	defer inside.Close()
	h := newAlertHarnessOf(t, func(pd, hook string) string {
		return alertingConfig(pd, hook) + "dashboard:\n  subscriptions: {smtp: 127.0.0.1:9, from: status@example.com, webhooks: true}\n"
	})
	ctx := t.Context()
	if _, err := h.c.store.Subscribe(ctx, store.Subscriber{Kind: "webhook", Address: inside.URL + "/hook", Token: "rebound", CreatedAt: h.clock.Now()}); err != nil {
		t.Fatal(err)
	}
	h.c.store.ConfirmSubscriber(ctx, "rebound", h.clock.Now())
	h.minute(all(model.OutcomeUp))
	h.minute(all(model.OutcomeDown))
	h.minute(all(model.OutcomeDown))
	h.tick()
	h.tick()
	if n := hits.Load(); n != 0 {
		t.Fatalf("%d requests reached the listener inside", n)
	}
	notes, err := h.c.store.AlertNotifications(ctx, "status:incident-1-opened")
	if err != nil || len(notes) == 0 || notes[0].LastError == "" || notes[0].Delivered != nil {
		t.Fatalf("the subscriber's notification: %+v %v", notes, err)
	}
}

// A mailbox cannot be bombed through the form, nor a pending subscription
// taken over: an address holds one confirmation link a day, and further
// requests for it (from any client) send nothing and change nothing; the
// owner's link still confirms what the owner asked for.
func TestHostileSubscriptionMailBombAndHijack(t *testing.T) {
	mails := smtptest.Start(t)
	h := newHarnessWith(t, subscriptionConfig(mails.Addr))
	post := func(v url.Values) int {
		t.Helper()
		resp, err := http.PostForm(h.srv.URL+"/subscribe", v)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := post(url.Values{"kind": {"email"}, "address": {"ann@example.com"}, "component": {"api"}}); code != 200 {
		t.Fatalf("subscribe: %d", code)
	}
	codes := map[int]int{}
	for range 4 { // the rest of this client's burst, at the same address with other components
		codes[post(url.Values{"kind": {"email"}, "address": {"ann@example.com"}})]++
	}
	if n := len(mails.Messages()); n != 1 || codes[200] != 4 {
		t.Fatalf("%d mails to one address after 5 requests (answers %v), want 1", n, codes)
	}
	m := confirmLink.FindStringSubmatch(mails.Messages()[0].Data)
	if m == nil {
		t.Fatal("no link")
	}
	resp, err := http.PostForm(h.srv.URL+"/subscribe/confirm", url.Values{"token": {m[1]}})
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("the owner's link after the other requests: %v %v", resp, err)
	}
	resp.Body.Close()
	if subs, _ := h.c.store.Subscribers(t.Context()); len(subs) != 1 || subs[0].ConfirmedAt == nil || fmt.Sprint(subs[0].Components) != "[api]" {
		t.Fatalf("the subscription: %+v", subs)
	}
}
