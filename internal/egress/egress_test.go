package egress

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
)

// Every special-purpose form is refused, the IPv4 ones embedded in IPv6
// among them; public addresses are not.
func TestHostileAddressForms(t *testing.T) {
	for _, s := range []string{"127.0.0.1", "10.1.2.3", "172.16.0.1", "192.168.1.1", "169.254.169.254", "100.64.0.1",
		"100.100.100.200", "198.18.0.1", "198.19.255.255", "192.0.0.8", "192.0.2.1", "198.51.100.7", "203.0.113.9", "0.0.0.0",
		"224.0.0.1", "240.0.0.1", "255.255.255.255", "::1", "::", "::ffff:127.0.0.1", "::ffff:169.254.169.254", "64:ff9b::a9fe:a9fe",
		"64:ff9b::7f00:1", "2002:7f00:1::1", "2001::1", "2001:0:4136:e378:8000:63bf:3fff:fdd2", "2001:db8::1", "fc00::1", "fd12::1",
		"fe80::1", "ff02::1", "::127.0.0.1", "3fff::1", "5f00::1", "100::1"} {
		if Public(netip.MustParseAddr(s)) {
			t.Errorf("%s is taken for a public address", s)
		}
	}
	for _, s := range []string{"8.8.8.8", "1.1.1.1", "93.184.216.34", "2606:4700:4700::1111", "2a00:1450:4001:82a::200e"} {
		if !Public(netip.MustParseAddr(s)) {
			t.Errorf("%s is refused", s)
		}
	}
}

// A stranger's URL reaches no listener on loopback, whatever its name
// resolves to when it is dialled (rebinding), in whatever form, and a
// redirect is not followed.
func TestHostileClientRefusesWhatIsNotPublic(t *testing.T) {
	var hits atomic.Int32
	inside := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits.Add(1) }))
	defer inside.Close()
	port := inside.URL[strings.LastIndex(inside.URL, ":")+1:]
	for _, addr := range []string{"127.0.0.1", "::ffff:127.0.0.1", "64:ff9b::7f00:1", "2002:7f00:1::1", "::1"} {
		// The name resolves to addr at connect time, whatever it resolved
		// to before.
		c := Client(Options{Resolve: func(context.Context, string) ([]netip.Addr, error) {
			return []netip.Addr{netip.MustParseAddr(addr)}, nil
		}})
		_, err := c.Post("http://hooks.example.com:"+port+"/status", "application/json", strings.NewReader("{}"))
		if !errors.Is(err, ErrBlocked) {
			t.Errorf("%s: %v, want the address refused", addr, err)
		}
	}
	if n := hits.Load(); n != 0 {
		t.Fatalf("%d requests reached the listener inside", n)
	}
	// A redirect to the inside is not followed, even from an address an
	// operator allowed.
	redirect := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, inside.URL+"/admin", http.StatusTemporaryRedirect)
	}))
	defer redirect.Close()
	_, err := Client(Options{Private: true}).Post(redirect.URL, "application/json", strings.NewReader("{}"))
	if !errors.Is(err, ErrRedirect) || hits.Load() != 0 {
		t.Fatalf("redirect: %v, %d requests inside", err, hits.Load())
	}
	// Allowed private addresses are reached (an operator's choice).
	if resp, err := Client(Options{Private: true}).Post(inside.URL, "application/json", strings.NewReader("{}")); err != nil || resp.StatusCode != 200 {
		t.Fatalf("private allowed: %v", err)
	}
}
