// Package pagerdutytest is a PagerDuty Events API v2 server for tests, on
// loopback: it checks every request against the API's contract (required
// fields, enumerations, lengths), keeps incidents by routing key and dedup
// key with PagerDuty's semantics, and can be told to fail.
package pagerdutytest

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"time"
)

// Incident is what PagerDuty would show.
type Incident struct {
	RoutingKey string
	DedupKey   string
	Status     string // triggered, acknowledged, resolved
	Summary    string
	Severity   string
	Events     int // events applied to it
}

// Event is one accepted request.
type Event struct {
	RoutingKey string         `json:"routing_key"`
	Action     string         `json:"event_action"`
	DedupKey   string         `json:"dedup_key"`
	Payload    map[string]any `json:"payload"`
	Links      []struct {
		Href string `json:"href"`
		Text string `json:"text"`
	} `json:"links"`
	ClientURL string    `json:"client_url"`
	At        time.Time `json:"-"`
}

// Server is the fake Events API.
type Server struct {
	*httptest.Server

	mu         sync.Mutex
	incidents  []*Incident
	events     []Event
	violations []string
	failures   []Failure
}

// Failure is an answer to give instead of processing, once.
type Failure struct {
	Status     int
	RetryAfter string
	// HTML answers with a proxy's HTML error page instead of JSON.
	HTML bool
}

// New starts a server; close it with Close.
func New() *Server {
	s := &Server{}
	s.Server = httptest.NewServer(http.HandlerFunc(s.handle))
	return s
}

// NewOn starts a server on ln (one made in another network namespace, say).
func NewOn(ln net.Listener) *Server {
	s := &Server{}
	s.Server = httptest.NewUnstartedServer(http.HandlerFunc(s.handle))
	s.Server.Listener.Close()
	s.Server.Listener = ln
	s.Server.Start()
	return s
}

// FailNext queues answers for the next requests.
func (s *Server) FailNext(fs ...Failure) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failures = append(s.failures, fs...)
}

// Incidents returns a copy of every incident.
func (s *Server) Incidents() []Incident {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Incident, len(s.incidents))
	for i, in := range s.incidents {
		out[i] = *in
	}
	return out
}

// IncidentsFor returns the incidents of one routing key.
func (s *Server) IncidentsFor(routingKey string) []Incident {
	var out []Incident
	for _, in := range s.Incidents() {
		if in.RoutingKey == routingKey {
			out = append(out, in)
		}
	}
	return out
}

// Events returns every accepted event.
func (s *Server) Events() []Event {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Event(nil), s.events...)
}

// Violations returns every contract violation seen.
func (s *Server) Violations() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.violations...)
}

func (s *Server) handle(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	if len(s.failures) > 0 {
		f := s.failures[0]
		s.failures = s.failures[1:]
		s.mu.Unlock()
		if f.RetryAfter != "" {
			w.Header().Set("Retry-After", f.RetryAfter)
		}
		if f.HTML {
			w.Header().Set("Content-Type", "text/html")
			w.WriteHeader(f.Status)
			fmt.Fprintf(w, "<html><body><h1>%d Bad Gateway</h1></body></html>", f.Status)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(f.Status)
		fmt.Fprintf(w, `{"status":"error","message":"staged failure %d"}`, f.Status)
		return
	}
	s.mu.Unlock()
	problems := []string{}
	if r.Method != http.MethodPost || r.URL.Path != "/v2/enqueue" {
		problems = append(problems, fmt.Sprintf("%s %s: only POST /v2/enqueue exists", r.Method, r.URL.Path))
	}
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		problems = append(problems, fmt.Sprintf("Content-Type %q is not application/json", ct))
	}
	body, _ := io.ReadAll(io.LimitReader(r.Body, 600<<10))
	if len(body) > 512<<10 {
		problems = append(problems, "body larger than 512 KB")
	}
	var ev Event
	var raw map[string]any
	if err := json.Unmarshal(body, &ev); err != nil || json.Unmarshal(body, &raw) != nil {
		problems = append(problems, fmt.Sprintf("body is not a JSON object: %v", err))
	}
	problems = append(problems, check(ev, raw)...)
	if len(problems) > 0 {
		s.mu.Lock()
		s.violations = append(s.violations, problems...)
		s.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		json.NewEncoder(w).Encode(map[string]any{"status": "invalid event", "message": "Event object is invalid", "errors": problems})
		return
	}
	ev.At = time.Now()
	s.mu.Lock()
	s.events = append(s.events, ev)
	s.apply(ev)
	s.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusAccepted)
	json.NewEncoder(w).Encode(map[string]string{"status": "success", "message": "Event processed", "dedup_key": ev.DedupKey})
}

// check applies the Events API v2 contract.
func check(ev Event, raw map[string]any) []string {
	var p []string
	if len(ev.RoutingKey) != 32 {
		p = append(p, fmt.Sprintf("routing_key must be 32 characters, got %d", len(ev.RoutingKey)))
	}
	switch ev.Action {
	case "trigger", "acknowledge", "resolve":
	default:
		p = append(p, fmt.Sprintf("event_action %q is not trigger, acknowledge or resolve", ev.Action))
	}
	if len(ev.DedupKey) > 255 {
		p = append(p, "dedup_key longer than 255 characters")
	}
	if ev.Action != "trigger" {
		if ev.DedupKey == "" {
			p = append(p, ev.Action+" needs a dedup_key")
		}
		return p
	}
	pl, ok := raw["payload"].(map[string]any)
	if !ok {
		return append(p, "trigger needs a payload")
	}
	str := func(k string) string { s, _ := pl[k].(string); return s }
	if s := str("summary"); s == "" || len(s) > 1024 {
		p = append(p, fmt.Sprintf("payload.summary must be 1 to 1024 characters, got %d", len(s)))
	}
	if str("source") == "" {
		p = append(p, "payload.source is required")
	}
	switch str("severity") {
	case "critical", "error", "warning", "info":
	default:
		p = append(p, fmt.Sprintf("payload.severity %q is not critical, error, warning or info", str("severity")))
	}
	if ts := str("timestamp"); ts != "" {
		if _, err := time.Parse(time.RFC3339, ts); err != nil {
			p = append(p, fmt.Sprintf("payload.timestamp %q is not ISO 8601", ts))
		}
	}
	for k := range pl {
		switch k {
		case "summary", "source", "severity", "timestamp", "component", "group", "class", "custom_details":
		default:
			p = append(p, "payload."+k+" is not a field of the Events API v2")
		}
	}
	if links, ok := raw["links"].([]any); ok {
		for _, l := range links {
			if m, _ := l.(map[string]any); m == nil || m["href"] == nil {
				p = append(p, "links[] needs href")
			}
		}
	}
	return p
}

// apply follows PagerDuty's dedup rules: a trigger joins the open incident
// with its key or opens one; acknowledge and resolve with no open incident
// are dropped.
func (s *Server) apply(ev Event) {
	var open *Incident
	for _, in := range s.incidents {
		if in.RoutingKey == ev.RoutingKey && in.DedupKey == ev.DedupKey && in.Status != "resolved" {
			open = in
		}
	}
	switch ev.Action {
	case "trigger":
		if open == nil {
			summary, _ := ev.Payload["summary"].(string)
			severity, _ := ev.Payload["severity"].(string)
			open = &Incident{RoutingKey: ev.RoutingKey, DedupKey: ev.DedupKey, Status: "triggered", Summary: summary, Severity: severity}
			s.incidents = append(s.incidents, open)
		}
		open.Events++
	case "acknowledge":
		if open != nil {
			open.Status = "acknowledged"
			open.Events++
		}
	case "resolve":
		if open != nil {
			open.Status = "resolved"
			open.Events++
		}
	}
}
