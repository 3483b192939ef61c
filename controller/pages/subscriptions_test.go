package pages

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/nines-sre/nines/config"
	"github.com/nines-sre/nines/controller/store/sqlite/sqlitetest"
	"github.com/nines-sre/nines/dashboard"
)

// The form is public: a webhook on loopback, a private network or
// link-local addresses is refused before any call, unless the
// configuration allows it.
func TestWebhookOnAPrivateNetworkIsRefused(t *testing.T) {
	cfg, err := config.Parse("test.yaml", []byte(`regions: [{id: r1}, {id: r2}]
probes:
  tokens: [{region: r1, token: a-long-enough-token-1}]
components:
  - id: api
    checks: [{id: a, kind: http, http: {url: "http://127.0.0.1:9/"}}]
alerting: {dashboard_url: "https://status.example.com"}
dashboard: {subscriptions: {webhooks: true}}
`))
	if err != nil {
		t.Fatal(err)
	}
	s := &Subscriptions{Store: sqlitetest.Open(t), Config: func() *config.Config { return cfg }, Now: time.Now,
		Resolve: func(_ context.Context, host string) ([]net.IPAddr, error) {
			return map[string][]net.IPAddr{
				"inside.example.com":  {{IP: net.ParseIP("10.1.2.3")}},
				"meta.example.com":    {{IP: net.ParseIP("169.254.169.254")}},
				"mixed.example.com":   {{IP: net.ParseIP("203.0.113.7")}, {IP: net.ParseIP("127.0.0.1")}},
				"127.0.0.1":           {{IP: net.ParseIP("127.0.0.1")}},
				"[::1]":               {{IP: net.ParseIP("::1")}},
				"outside.example.com": {{IP: net.ParseIP("203.0.113.7")}},
			}[host], nil
		}}
	for _, u := range []string{"http://inside.example.com/x", "http://meta.example.com/latest", "https://mixed.example.com/", "http://127.0.0.1:8080/"} {
		_, err := s.Subscribe(context.Background(), "webhook", u, nil)
		var fe *dashboard.FormError
		if !errors.As(err, &fe) || !strings.Contains(fe.Msg, "private network") {
			t.Errorf("%s: %v, want it refused as private", u, err)
		}
	}
	for _, u := range []string{"ftp://outside.example.com/", "https://user:pw@outside.example.com/", "outside.example.com"} {
		if _, err := s.Subscribe(context.Background(), "webhook", u, nil); err == nil || !strings.Contains(err.Error(), "not an http(s) URL") {
			t.Errorf("%s: %v", u, err)
		}
	}
	if subs, _ := s.Subscribers(context.Background()); len(subs) != 0 {
		t.Fatalf("kept: %+v", subs)
	}
}
