package pages

import (
	"context"
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/nines-sre/nines/config"
	"github.com/nines-sre/nines/controller/store/sqlite/sqlitetest"
	"github.com/nines-sre/nines/dashboard"
)

// The form is public: a webhook whose host resolves to an address that is
// not on the public Internet (loopback, private, link-local, the other
// special-purpose blocks, and their IPv6 forms) is refused before any
// call, unless the configuration allows it.
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
		Resolve: func(_ context.Context, host string) ([]netip.Addr, error) {
			var out []netip.Addr
			for _, a := range map[string][]string{
				"inside.example.com":  {"10.1.2.3"},
				"meta.example.com":    {"169.254.169.254"},
				"alibaba.example.com": {"100.100.100.200"},
				"bench.example.com":   {"198.18.0.1"},
				"ietf.example.com":    {"192.0.0.8"},
				"nat64.example.com":   {"64:ff9b::a9fe:a9fe"},
				"6to4.example.com":    {"2002:7f00:1::1"},
				"mixed.example.com":   {"93.184.216.34", "127.0.0.1"},
				"127.0.0.1":           {"127.0.0.1"},
				"outside.example.com": {"93.184.216.34"},
			}[host] {
				out = append(out, netip.MustParseAddr(a))
			}
			return out, nil
		}}
	for _, u := range []string{"http://inside.example.com/x", "http://meta.example.com/latest", "http://alibaba.example.com/", "http://bench.example.com/",
		"http://ietf.example.com/", "http://nat64.example.com/", "http://6to4.example.com/", "https://mixed.example.com/", "http://127.0.0.1:8080/"} {
		_, err := s.Subscribe(context.Background(), "webhook", u, nil)
		var fe *dashboard.FormError
		if !errors.As(err, &fe) || !strings.Contains(fe.Msg, "not on the public Internet") {
			t.Errorf("%s: %v, want it refused", u, err)
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
