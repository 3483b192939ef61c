package dashboard

import (
	"net"
	"net/http"
	"sync"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// Sign-in attempts are limited per client address and per user name: a
// few failures are free, then each further one waits twice as long as the
// one before (1 s, 2 s, 4 s… up to 15 minutes), answered 429 with
// Retry-After; a success clears the count.
const (
	freeFailures = 5
	maxLockout   = 15 * time.Minute
	// forgetFailures is how long a quiet key's failures are remembered.
	forgetFailures = time.Hour
	// maxTracked bounds the keys remembered; past it the quietest go.
	maxTracked = 10000
)

type failures struct {
	n    int
	last time.Time
}

// signinLimiter counts failed sign-ins by key ("addr:…", "user:…").
type signinLimiter struct {
	mu   sync.Mutex
	keys map[string]*failures
}

func newSigninLimiter() *signinLimiter { return &signinLimiter{keys: map[string]*failures{}} }

// lockout is how long a key with n failures must wait after its last one.
func lockout(n int) time.Duration {
	if n < freeFailures {
		return 0
	}
	d := time.Second << min(n-freeFailures, 20)
	return min(d, maxLockout)
}

// wait returns how long the first of keys must still wait at now; zero
// when none must.
func (l *signinLimiter) wait(now time.Time, keys ...string) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	var most time.Duration
	for _, k := range keys {
		if f := l.keys[k]; f != nil {
			most = max(most, f.last.Add(lockout(f.n)).Sub(now))
		}
	}
	return most
}

// fail counts a failed sign-in for every key.
func (l *signinLimiter) fail(now time.Time, keys ...string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.keys) >= maxTracked {
		for k, f := range l.keys {
			if now.Sub(f.last) > forgetFailures || len(l.keys) >= maxTracked {
				delete(l.keys, k)
			}
		}
	}
	for _, k := range keys {
		f := l.keys[k]
		if f == nil || now.Sub(f.last) > forgetFailures {
			f = &failures{}
			l.keys[k] = f
		}
		f.n++
		f.last = now
	}
}

// succeed clears the keys' failures.
func (l *signinLimiter) succeed(keys ...string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, k := range keys {
		delete(l.keys, k)
	}
}

// signinKeys are the limiter's keys of a sign-in: the client's address and
// the user name tried.
func signinKeys(r *http.Request, user string) []string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	return []string{"addr:" + host, "user:" + user}
}

// unknownUser is compared with when no user has the name tried, so that
// an unknown user costs what a wrong password costs and names cannot be
// told apart by time.
var unknownUser = func() []byte {
	h, err := bcrypt.GenerateFromPassword([]byte("no user has this password"), bcrypt.DefaultCost)
	if err != nil {
		panic(err)
	}
	return h
}()

// checkPassword reports whether users has name with password, taking a
// bcrypt comparison's time whether or not the name is known.
func checkPassword(users []User, name, password string) bool {
	hash := unknownUser
	known := false
	for _, u := range users {
		if u.Name == name {
			hash, known = []byte(u.PasswordHash), true
			break
		}
	}
	return bcrypt.CompareHashAndPassword(hash, []byte(password)) == nil && known
}
