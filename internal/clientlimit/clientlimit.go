// Package clientlimit keeps a rate limit per client of a public door
// (subscriptions, wrong credentials): a client is its address, an IPv6
// /64 being one client, and the table of clients is bounded without ever
// forgiving anyone: when it is full only idle limiters (back to a full
// burst) are dropped, and a new client is refused while none is.
package clientlimit

import (
	"net"
	"net/http"
	"net/netip"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Limits is a limiter per client: Burst at once, then one per Every; at
// most Max clients remembered.
type Limits struct {
	Every time.Duration
	Burst int
	Max   int
	// Now is the clock (nil: time.Now).
	Now func() time.Time

	mu      sync.Mutex
	m       map[string]*rate.Limiter
	full    time.Time            // a scan last found no idle limiter: the next waits a second
	trusted map[string]time.Time // clients that presented a good credential, and when
}

// trustFor is how long a client that presented a good credential is
// never refused for its neighbours' bad ones.
const trustFor = time.Hour

// Key is the client of r: its address, or its /64 for IPv6.
func Key(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return host
	}
	ip = ip.Unmap()
	if ip.Is6() {
		p, _ := ip.Prefix(64)
		return p.String()
	}
	return ip.String()
}

func (l *Limits) now() time.Time {
	if l.Now != nil {
		return l.Now()
	}
	return time.Now()
}

// limiter is key's limiter, made when there is room; nil when the table
// is full of clients still limited. l.mu is held.
func (l *Limits) limiter(key string) *rate.Limiter {
	if l.m == nil {
		l.m = map[string]*rate.Limiter{}
	}
	if lim := l.m[key]; lim != nil {
		return lim
	}
	if len(l.m) >= l.Max {
		now := l.now()
		if now.Sub(l.full) < time.Second {
			return nil
		}
		for k, old := range l.m {
			if old.TokensAt(now) >= float64(l.Burst) {
				delete(l.m, k)
			}
		}
		if len(l.m) >= l.Max {
			l.full = now
			return nil
		}
	}
	lim := rate.NewLimiter(rate.Every(l.Every), l.Burst)
	l.m[key] = lim
	return lim
}

// Allow takes a token of key's limiter; false when none is left (or no
// room is left for a new client).
func (l *Limits) Allow(key string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	lim := l.limiter(key)
	return lim != nil && lim.AllowN(l.now(), 1)
}

// Trust marks key as a client that presented a good credential: for an
// hour Spent never refuses it, so that a misconfigured or hostile
// neighbour behind the same address cannot lock out a working probe.
func (l *Limits) Trust(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.trusted == nil {
		l.trusted = map[string]time.Time{}
	}
	now := l.now()
	if _, ok := l.trusted[key]; !ok && len(l.trusted) >= l.Max {
		for k, at := range l.trusted {
			if now.Sub(at) > trustFor {
				delete(l.trusted, k)
			}
		}
		if len(l.trusted) >= l.Max {
			return
		}
	}
	l.trusted[key] = now
}

// Spent reports whether key has no token left, without taking one: for a
// door that counts failures only, asked before it answers. A trusted
// client is never spent.
func (l *Limits) Spent(key string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if at, ok := l.trusted[key]; ok && l.now().Sub(at) <= trustFor {
		return false
	}
	if l.m == nil || l.m[key] == nil {
		return len(l.m) >= l.Max && l.limiter(key) == nil
	}
	return l.m[key].TokensAt(l.now()) < 1
}
