package dashboard

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"net/http"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/nines-sre/nines/internal/clientlimit"
	"github.com/nines-sre/nines/model"
)

// Guessing at sign-in is slowed without letting anyone lock the SRE out,
// as OWASP's device cookies do it. A browser that signed in as a user
// carries a device cookie for that user (signed by the controller); its
// failures count against that cookie alone. Every other attempt is
// untrusted, and counted per user name (for untrusted browsers only) and
// per client address (IPv6 by /64). A few failures are free, then each
// further one waits twice as long as the one before (1 s, 2 s, 4 s… up to
// 15 minutes), answered 429 with Retry-After; a success clears the count.
// An attacker who guesses at a user's password thus locks out untrusted
// browsers only: the user's own browser signs in at once.
const (
	freeFailures = 5
	maxLockout   = 15 * time.Minute
	// forgetFailures is how long a quiet key's failures are remembered.
	forgetFailures = time.Hour
	// maxTracked bounds the keys remembered. Keys still waiting are never
	// dropped to make room: when none can go, a new untrusted key is
	// refused as if it waited (the attacker cannot flush a lockout).
	maxTracked = 10000
	// maxUserName and maxPassword bound the form's fields.
	maxUserName = 128
	maxPassword = 1024
	// deviceCookie names the device cookie; it lasts deviceTTL.
	deviceCookie = "nines_device"
	deviceTTL    = 180 * 24 * time.Hour
)

type failures struct {
	n    int
	last time.Time
}

// signinLimiter counts failed sign-ins by key ("device:…", "user:…",
// "addr:…").
type signinLimiter struct {
	mu   sync.Mutex
	keys map[string]*failures
	// full is when a scan last found no room: the next waits a second.
	full time.Time
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
// when none must. A key not tracked while no room can be made waits.
func (l *signinLimiter) wait(now time.Time, keys ...string) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	var most time.Duration
	for _, k := range keys {
		if f := l.keys[k]; f != nil {
			most = max(most, f.last.Add(lockout(f.n)).Sub(now))
		} else if !l.room(now) {
			most = max(most, time.Minute)
		}
	}
	return most
}

// room makes room for a key when the limiter is full, dropping only keys
// whose wait is over and that are quiet; it reports whether there is
// room. l.mu is held.
func (l *signinLimiter) room(now time.Time) bool {
	if len(l.keys) < maxTracked {
		return true
	}
	if now.Sub(l.full) < time.Second {
		return false
	}
	for k, f := range l.keys {
		if now.Sub(f.last) > forgetFailures || (lockout(f.n) == 0 && now.Sub(f.last) > time.Minute) {
			delete(l.keys, k)
		}
	}
	if len(l.keys) >= maxTracked {
		l.full = now
		return false
	}
	return true
}

// fail counts a failed sign-in for every key (one that finds no room is
// not counted: its attempts wait, see wait).
func (l *signinLimiter) fail(now time.Time, keys ...string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, k := range keys {
		f := l.keys[k]
		if f == nil || now.Sub(f.last) > forgetFailures {
			if f == nil && !l.room(now) {
				continue
			}
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

// clientKey is the limiter's key of a client (clientlimit.Key).
func clientKey(r *http.Request) string { return "addr:" + clientlimit.Key(r) }

// userKey is the limiter's key of a user name for untrusted browsers: a
// digest, so that a long name takes no more room than a short one.
func userKey(name string) string {
	sum := sha256.Sum256([]byte(name))
	return "user:" + hex.EncodeToString(sum[:12])
}

// deviceKey signs device cookies: derived from the users' password
// hashes, so that cookies outlive a restart, and a changed password ends
// the cookies of everyone.
func deviceKey(users []User) []byte {
	h := sha256.New()
	h.Write([]byte("nines device cookie\x00"))
	for _, u := range users {
		h.Write([]byte(u.Name + "\x00" + u.PasswordHash + "\x00"))
	}
	return h.Sum(nil)
}

// newDeviceCookie is a device cookie's value for user: its name, a
// nonce and their signature.
func newDeviceCookie(key []byte, user string) string {
	nonce := make([]byte, 16)
	_, _ = rand.Read(nonce)
	payload := base64.RawURLEncoding.EncodeToString([]byte(user)) + "." + base64.RawURLEncoding.EncodeToString(nonce)
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(payload))
	return payload + "." + base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
}

// deviceOf returns the limiter key of r's device cookie when it is valid
// for user ("" otherwise).
func deviceOf(r *http.Request, key []byte, user string) string {
	c, err := r.Cookie(deviceCookie)
	if err != nil || len(c.Value) > 512 {
		return ""
	}
	parts := strings.Split(c.Value, ".")
	if len(parts) != 3 {
		return ""
	}
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(parts[0] + "." + parts[1]))
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil || !hmac.Equal(sig, mac.Sum(nil)) {
		return ""
	}
	name, err := base64.RawURLEncoding.DecodeString(parts[0])
	if err != nil || string(name) != user {
		return ""
	}
	return "device:" + parts[1]
}

// signinKeys are the limiter's keys of an attempt to sign in as user: its
// device cookie's alone when it has a valid one, else the user's
// untrusted count and the client address.
func signinKeys(r *http.Request, key []byte, user string) (keys []string, trusted bool) {
	if d := deviceOf(r, key, user); d != "" {
		return []string{d}, true
	}
	return []string{userKey(user), clientKey(r)}, false
}

// logLimiter lets a client's refused sign-ins be logged once per
// interval, counting those it held back.
type logLimiter struct {
	mu   sync.Mutex
	last map[string]*logged
}

type logged struct {
	at      time.Time
	dropped int
}

// logEvery is the least time between two log lines of one client's
// refused sign-ins.
const logEvery = time.Minute

// allow reports whether to log key's event at now, and how many were not
// logged since the last one.
func (l *logLimiter) allow(now time.Time, key string) (bool, int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.last == nil || len(l.last) >= maxTracked {
		l.last = map[string]*logged{}
	}
	e := l.last[key]
	if e != nil && now.Sub(e.at) < logEvery {
		e.dropped++
		return false, 0
	}
	dropped := 0
	if e != nil {
		dropped = e.dropped
	}
	l.last[key] = &logged{at: now}
	return true, dropped
}

// logName is a user name as logged: at most 64 bytes, quoted by the
// logger.
func logName(name string) string { return model.Clip(name, 64) }

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
