package clientlimit

import (
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"
)

// A limiter is kept per client, an IPv6 /64 being one client, and cannot
// be flushed: 10,000 other clients free no one; Spent says a client has
// used its burst without taking a token.
func TestHostileLimitsPerClientCannotBeFlushed(t *testing.T) {
	l := &Limits{Every: time.Minute, Burst: 5, Max: 10_000}
	key := func(addr string) string {
		r := httptest.NewRequest(http.MethodPost, "/", nil)
		r.RemoteAddr = addr
		return Key(r)
	}
	used := 0
	for l.Allow(key("[2001:db8:1:2::10]:4000")) {
		used++
	}
	if used != 5 {
		t.Fatalf("a client's burst is %d, want 5", used)
	}
	if !l.Spent(key("[2001:db8:1:2:ffff::99]:5000")) || l.Allow(key("[2001:db8:1:2:ffff::99]:5000")) {
		t.Fatal("another address of the same /64 got a fresh burst")
	}
	if l.Spent(key("198.51.100.1:80")) {
		t.Fatal("a new client is spent")
	}
	for i := range 10_010 {
		l.Allow(key("198.51." + strconv.Itoa(i/250) + "." + strconv.Itoa(i%250) + ":80"))
	}
	if l.Allow(key("[2001:db8:1:2::10]:4000")) {
		t.Fatal("a flood of other clients gave a blocked client a fresh burst")
	}
	if n := len(l.m); n > 10_000 {
		t.Fatalf("%d clients kept", n)
	}
}
