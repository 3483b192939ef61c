package notify

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/nines-sre/nines/alerting"
	"github.com/nines-sre/nines/alerting/pagerdutytest"
)

func msg(action alerting.Action) alerting.Message {
	return alerting.Message{AlertKey: "down:api", Incident: 1, Action: action, Severity: "critical", Urgency: "high",
		Summary: "api is down: failing in eu-london, ap-tokyo", Source: "nines", Class: "check_down",
		Details: map[string]any{"failing_regions": []string{"ap-tokyo", "eu-london"}}, Link: "http://nines.example/alerts/down:api", At: time.Now()}
}

func TestSlackAndStatusClasses(t *testing.T) {
	var got string
	status, retryAfter := http.StatusOK, ""
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got = string(b)
		if retryAfter != "" {
			w.Header().Set("Retry-After", retryAfter)
		}
		w.WriteHeader(status)
	}))
	defer srv.Close()
	s := &Slack{URL: srv.URL, Client: srv.Client()}
	if err := s.Notify(context.Background(), msg(alerting.ActionTrigger)); err != nil {
		t.Fatal(err)
	}
	var body struct{ Text string }
	json.Unmarshal([]byte(got), &body)
	if !strings.Contains(body.Text, `[FIRING] down:api (critical, high urgency): api is down`) || !strings.Contains(body.Text, "|open>") {
		t.Fatalf("slack body %s", got)
	}
	update := msg(alerting.ActionTrigger)
	update.Update = true
	if err := s.Notify(context.Background(), update); err != nil {
		t.Fatal(err)
	}
	if json.Unmarshal([]byte(got), &body); !strings.HasPrefix(body.Text, "[UPDATE] down:api") {
		t.Fatalf("an update of an open incident: %s", got)
	}
	status, retryAfter = http.StatusTooManyRequests, time.Now().Add(90*time.Second).UTC().Format(http.TimeFormat)
	var re *alerting.RetryError
	if err := s.Notify(context.Background(), msg(alerting.ActionResolve)); !errors.As(err, &re) || re.After < 80*time.Second {
		t.Fatalf("429 with an HTTP-date Retry-After: %v", err)
	}
	status, retryAfter = http.StatusBadRequest, ""
	if err := s.Notify(context.Background(), msg(alerting.ActionResolve)); err == nil || errors.As(err, &re) {
		t.Fatalf("400 must be final: %v", err)
	}
	srv.Close()
	if err := s.Notify(context.Background(), msg(alerting.ActionResolve)); !errors.As(err, &re) {
		t.Fatalf("no answer must be retried: %v", err)
	}
}

func TestPagerDutyEventsFollowTheContract(t *testing.T) {
	pd := pagerdutytest.New()
	defer pd.Close()
	p := NewPagerDuty("R0UTINGKEYR0UTINGKEYR0UTINGKEY01", pd.URL, http.DefaultClient)
	long := msg(alerting.ActionTrigger)
	long.Summary = strings.Repeat("é", 700) // 1,400 bytes: truncated on a rune boundary
	for _, m := range []alerting.Message{long, msg(alerting.ActionAcknowledge), msg(alerting.ActionResolve)} {
		if err := p.Notify(context.Background(), m); err != nil {
			t.Fatal(err)
		}
	}
	if v := pd.Violations(); len(v) > 0 {
		t.Fatal(v)
	}
	inc := pd.Incidents()
	if len(inc) != 1 || inc[0].Status != "resolved" || inc[0].Events != 3 || inc[0].DedupKey != "down:api" {
		t.Fatalf("incidents %+v", inc)
	}
	ev := pd.Events()[0]
	details, _ := ev.Payload["custom_details"].(map[string]any)
	if details["failing_regions"] == nil || ev.Payload["class"] != "check_down" {
		t.Fatalf("trigger payload %+v", ev.Payload)
	}
	pd.FailNext(pagerdutytest.Failure{Status: 400})
	var re *alerting.RetryError
	if err := p.Notify(context.Background(), msg(alerting.ActionTrigger)); err == nil || errors.As(err, &re) {
		t.Fatalf("a 400 must be final: %v", err)
	}
	// A proxy's HTML 502 page: retried, and the error says the status,
	// not only that the body was not JSON.
	pd.FailNext(pagerdutytest.Failure{Status: 502, HTML: true, RetryAfter: "1"})
	err := p.Notify(context.Background(), msg(alerting.ActionTrigger))
	if !errors.As(err, &re) || re.After != time.Second || !strings.Contains(err.Error(), "HTTP 502") {
		t.Fatalf("an HTML 502: %v", err)
	}
}

// fakeSMTP accepts one message and returns what was sent.
func fakeSMTP(t *testing.T, reject bool) (string, <-chan string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	out := make(chan string, 1)
	go func() {
		defer ln.Close()
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		r := bufio.NewReader(c)
		say := func(s string) { io.WriteString(c, s+"\r\n") }
		say("220 fake ESMTP")
		var data strings.Builder
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				return
			}
			cmd := strings.ToUpper(strings.TrimSpace(line))
			switch {
			case strings.HasPrefix(cmd, "EHLO"), strings.HasPrefix(cmd, "HELO"):
				say("250 fake")
			case strings.HasPrefix(cmd, "MAIL FROM"):
				say("250 ok")
			case strings.HasPrefix(cmd, "RCPT TO"):
				if reject {
					say("550 no such user")
				} else {
					say("250 ok")
				}
			case cmd == "DATA":
				say("354 go on")
				for {
					l, err := r.ReadString('\n')
					if err != nil || l == ".\r\n" {
						break
					}
					data.WriteString(l)
				}
				say("250 queued")
				out <- data.String()
			case cmd == "QUIT":
				say("221 bye")
				return
			default:
				say("250 ok")
			}
		}
	}()
	return ln.Addr().String(), out
}

func TestEmail(t *testing.T) {
	addr, sent := fakeSMTP(t, false)
	e := &Email{Addr: addr, From: "nines@example.com", To: []string{"oncall@example.com"}}
	if err := e.Notify(context.Background(), msg(alerting.ActionTrigger)); err != nil {
		t.Fatal(err)
	}
	body := <-sent
	for _, want := range []string{"Subject: [FIRING] down:api (critical, high urgency)", "failing_regions: [ap-tokyo eu-london]", "http://nines.example/alerts/down:api"} {
		if !strings.Contains(body, want) {
			t.Errorf("mail lacks %q:\n%s", want, body)
		}
	}
	addr, _ = fakeSMTP(t, true)
	e.Addr = addr
	var re *alerting.RetryError
	if err := e.Notify(context.Background(), msg(alerting.ActionTrigger)); err == nil || errors.As(err, &re) {
		t.Fatalf("a 550 must be final: %v", err)
	}
}

// No text reaches a mail's headers with a line break: a bare CR or LF in
// what an alert says cannot add a header (Bcc, a second Subject).
func TestHostileMailHeadersRefuseLineBreaks(t *testing.T) {
	m := msg(alerting.ActionTrigger)
	m.Summary = "api down\rBcc: victim@example.com\nX-Evil: 1"
	m.AlertKey = "down:api\r\nBcc: other@example.com"
	for name, n := range map[string]alerting.Notifier{
		"email":      &Email{From: "nines@example.com", To: []string{"oncall@example.com"}},
		"statusmail": &StatusMail{From: "status@example.com", To: "ann@example.com", Page: "Example\r\nBcc: x@example.com", Unsubscribe: "http://s/u"},
	} {
		addr, sent := fakeSMTP(t, false)
		switch x := n.(type) {
		case *Email:
			x.Addr = addr
		case *StatusMail:
			x.Relay = Relay{Addr: addr}
		}
		if err := n.Notify(context.Background(), m); err != nil {
			t.Fatal(err)
		}
		body := <-sent
		head, _, _ := strings.Cut(body, "\r\n\r\n")
		for _, line := range strings.Split(head, "\r\n") {
			if strings.ContainsAny(line, "\r\n") || strings.HasPrefix(line, "Bcc:") || strings.HasPrefix(line, "X-Evil:") {
				t.Errorf("%s: a header line %q", name, line)
			}
		}
		if strings.Count(head, "Subject:") != 1 {
			t.Errorf("%s: headers:\n%s", name, head)
		}
	}
}
