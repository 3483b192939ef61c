package dashboard

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nines-sre/nines/internal/clientlimit"
	"github.com/nines-sre/nines/internal/snapshot"
	"github.com/nines-sre/nines/model"
)

// User may sign in to the SRE view.
type User struct {
	Name         string
	PasswordHash string // bcrypt
}

// Options configure the dashboard.
type Options struct {
	Source     Source
	Users      func() []User // asked at every sign-in, so reloads apply
	Logger     *slog.Logger
	Now        func() time.Time
	SessionTTL time.Duration
	// Secure marks cookies Secure: the controller serves TLS, or sits
	// behind a proxy that does (dashboard.behind_tls).
	Secure bool
	// Sessions keeps sign-ins; nil keeps them in memory (one replica).
	Sessions Sessions
	// Publish says when the status page and the badges are rendered again
	// (on a change of Publish.Version, at most once per MinInterval); the
	// zero value renders them for every request.
	Publish snapshot.Options
	// PublicURL is the status page's own address (alerting.dashboard_url,
	// or the controller's): the feeds' links and ids use it, never the
	// Host header a request came with.
	PublicURL func() string
	// Subscriptions, when set, takes the status page's subscribers.
	Subscriptions Subscriptions
}

// Sessions keeps signed-in sessions by key, a digest of the session id;
// Session returns nil for an unknown one or one expired at now.
type Sessions interface {
	PutSession(ctx context.Context, key string, s Session) error
	Session(ctx context.Context, key string, now time.Time) (*Session, error)
	DeleteSession(ctx context.Context, key string) error
}

// Session is one signed-in user.
type Session struct {
	User    string
	CSRF    string
	Expires time.Time
}

// memSessions keeps sessions in memory.
type memSessions struct {
	mu sync.Mutex
	m  map[string]Session
}

func (m *memSessions) PutSession(_ context.Context, key string, s Session) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.m[key] = s
	return nil
}

func (m *memSessions) Session(_ context.Context, key string, now time.Time) (*Session, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	s, ok := m.m[key]
	if !ok || !now.Before(s.Expires) {
		delete(m.m, key)
		return nil, nil
	}
	return &s, nil
}

func (m *memSessions) DeleteSession(_ context.Context, key string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.m, key)
	return nil
}

// sessionKey is what sessions are stored under: a digest of the cookie, so
// that a copy of the store gives no live session.
func sessionKey(id string) string {
	sum := sha256.Sum256([]byte(id))
	return hex.EncodeToString(sum[:])
}

// Server is the dashboard's HTTP handler.
type Server struct {
	o   Options
	mux *http.ServeMux

	sessions   Sessions
	signins    *signinLimiter
	signinLogs logLimiter

	page   *snapshot.Cache[struct{}]
	badges *snapshot.Set[bool]                // by check; value: the check exists
	past   *snapshot.Cache[struct{}]          // the history page
	feeds  map[string]*snapshot.Set[struct{}] // by format, then by the address the page is reached at

	subscribeLimits *clientlimit.Limits
}

const (
	sessionCookie = "nines_session"
	loginCookie   = "nines_login"
)

// New builds the dashboard.
func New(o Options) *Server {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.SessionTTL <= 0 {
		o.SessionTTL = 12 * time.Hour
	}
	s := &Server{o: o, mux: http.NewServeMux(), sessions: o.Sessions, signins: newSigninLimiter(), subscribeLimits: newSubscribeLimits()}
	s.page = snapshot.New("text/html; charset=utf-8", o.Publish, func(ctx context.Context) (struct{}, []byte, error) {
		p, err := s.o.Source.StatusPage(ctx)
		if err != nil {
			return struct{}{}, nil, err
		}
		b, err := RenderStatus(p)
		return struct{}{}, b, err
	})
	s.badges = snapshot.NewSet("image/svg+xml", o.Publish, maxBadges, func(ctx context.Context, check string) (bool, []byte, error) {
		uptime, status, found := s.o.Source.Badge(ctx, check)
		if !found {
			return false, nil, nil
		}
		return true, badgeFor(check, uptime, status), nil
	})
	s.past = snapshot.New("text/html; charset=utf-8", o.Publish, func(ctx context.Context) (struct{}, []byte, error) {
		p, err := s.o.Source.History(ctx)
		if err != nil {
			return struct{}{}, nil, err
		}
		var b bytes.Buffer
		err = templates.ExecuteTemplate(&b, "history", p)
		return struct{}{}, b.Bytes(), err
	})
	s.feeds = map[string]*snapshot.Set[struct{}]{}
	for _, format := range []string{"atom", "rss"} {
		s.feeds[format] = snapshot.NewSet("application/"+format+"+xml; charset=utf-8", o.Publish, MaxAddresses,
			func(ctx context.Context, base string) (struct{}, []byte, error) {
				return s.buildFeed(ctx, format, base)
			})
	}
	if s.sessions == nil {
		s.sessions = &memSessions{m: map[string]Session{}}
	}
	assets, _ := fs.Sub(assetFS, "assets")
	s.mux.Handle("GET /assets/", http.StripPrefix("/assets/", http.FileServerFS(assets)))
	s.mux.HandleFunc("GET /{$}", s.statusPage)
	s.mux.HandleFunc("GET /badge/{file}", s.badge)
	s.mux.HandleFunc("GET /history", s.history)
	s.mux.HandleFunc("GET /history.atom", s.feed)
	s.mux.HandleFunc("GET /history.rss", s.feed)
	s.mux.HandleFunc("GET /incidents/{id}", s.incident)
	s.mux.HandleFunc("GET /maintenance/{id}", s.maintenance)
	s.mux.HandleFunc("POST /subscribe", s.subscribe)
	s.mux.HandleFunc("GET /subscribe/confirm", s.confirmPage)
	s.mux.HandleFunc("POST /subscribe/confirm", s.confirm)
	s.mux.HandleFunc("GET /unsubscribe", s.unsubscribePage)
	s.mux.HandleFunc("POST /unsubscribe", s.unsubscribe)
	s.mux.HandleFunc("GET /sre/subscribers", s.auth(s.subscribers))
	s.mux.HandleFunc("POST /sre/subscribers/remove", s.auth(s.removeSubscriber))
	s.mux.HandleFunc("GET /sre/login", s.loginPage)
	s.mux.HandleFunc("POST /sre/login", s.login)
	s.mux.HandleFunc("POST /sre/logout", s.auth(s.logout))
	s.mux.HandleFunc("GET /sre", s.auth(s.overview))
	s.mux.HandleFunc("GET /sre/checks/{id}", s.auth(s.check))
	s.mux.HandleFunc("GET /sre/checks/{id}/screenshots/{region}/{ms}", s.auth(s.screenshot))
	s.mux.HandleFunc("POST /sre/alerts/ack", s.auth(s.ack))
	s.mux.HandleFunc("GET /sre/alerts/{key...}", s.auth(s.alert))
	// Links sent before alert pages moved under /sre.
	s.mux.HandleFunc("GET /alerts/{key...}", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/sre"+r.URL.EscapedPath(), http.StatusMovedPermanently)
	})
	s.mux.HandleFunc("POST /sre/incidents/{id}/updates", s.auth(s.incidentUpdate))
	s.mux.HandleFunc("POST /sre/incidents/{id}/edit", s.auth(s.incidentEdit))
	return s
}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Content-Security-Policy", "default-src 'self'; style-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'")
	s.mux.ServeHTTP(w, r)
}

func token() string {
	b := make([]byte, 24)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

func (s *Server) render(w http.ResponseWriter, name string, data any) {
	var buf bytes.Buffer
	if err := templates.ExecuteTemplate(&buf, name, data); err != nil {
		s.o.Logger.Error("render", "template", name, "err", err)
		http.Error(w, "the page could not be rendered", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Write(buf.Bytes())
}

var scratch = sync.Pool{New: func() any { b := make([]byte, 0, 64<<10); return &b }}

// WriteStatus writes the status page of p to w: the templates for the
// frame, hand-written HTML for the components and the region matrix.
func WriteStatus(w io.Writer, p *StatusPage) error {
	if err := templates.ExecuteTemplate(w, "status-head", p); err != nil {
		return err
	}
	bp := scratch.Get().(*[]byte)
	defer scratch.Put(bp)
	b := appendComponents((*bp)[:0], p)
	if _, err := w.Write(b); err != nil {
		return err
	}
	if err := templates.ExecuteTemplate(w, "status-regions", p); err != nil {
		return err
	}
	b = appendMatrix(b[:0], p)
	*bp = b
	if _, err := w.Write(b); err != nil {
		return err
	}
	return templates.ExecuteTemplate(w, "status-tail", p)
}

// RenderStatus returns the status page of p.
func RenderStatus(p *StatusPage) ([]byte, error) {
	var buf bytes.Buffer
	err := WriteStatus(&buf, p)
	return buf.Bytes(), err
}

// statusPage serves the published page: rendered once per change, sent
// with an ETag and gzip, held by browsers and CDNs for a few seconds.
func (s *Server) statusPage(w http.ResponseWriter, r *http.Request) {
	e, err := s.page.Get(r.Context())
	if err != nil {
		s.o.Logger.Error("status page", "err", err)
		http.Error(w, "status unavailable", http.StatusInternalServerError)
		return
	}
	e.Serve(w, r, "public, max-age=5")
}

// maxBadges bounds the badges kept rendered: one per check asked for;
// MaxAddresses the documents kept per address the page is linked from
// (the feeds here, the v2 API in controller/pages): one in a controller,
// a few in tests that give none.
const (
	maxBadges    = 100_000
	MaxAddresses = 16
)

func (s *Server) badge(w http.ResponseWriter, r *http.Request) {
	check, ok := strings.CutSuffix(r.PathValue("file"), ".svg")
	if !ok {
		http.NotFound(w, r)
		return
	}
	e, err := s.badges.Get(r.Context(), check)
	if err != nil || !e.Value {
		// Not a check (or no longer one): forget it, so that made-up
		// names take no room.
		s.badges.Forget(check)
		http.Error(w, "no check "+model.Clip(check, 64), http.StatusNotFound)
		return
	}
	e.Serve(w, r, "public, max-age=60")
}

// badgeFor draws a check's badge: its 30-day availability (nil: no data),
// coloured by how it meets 99.9 %, and its status when down or in
// maintenance.
func badgeFor(check string, uptime *float64, status string) []byte {
	value, color := "no data", "#8c959f"
	if uptime != nil {
		value = strconv.FormatFloat(*uptime*100, 'f', 2, 64) + "%"
		switch {
		case *uptime >= 0.999:
			color = "#1a7f37"
		case *uptime >= 0.99:
			color = "#9a6700"
		default:
			color = "#cf222e"
		}
	}
	switch status {
	case "down":
		value += " · down"
		color = "#cf222e"
	case "maintenance":
		value += " · maintenance"
		color = "#0969da"
	}
	return badgeSVG(check, value, color)
}

// Sign-in: the login form carries a token also set in a cookie (double
// submit), so that no other site can sign a browser in.
func (s *Server) loginPage(w http.ResponseWriter, r *http.Request) {
	s.showLogin(w, r, "", http.StatusOK)
}

// maxNext bounds the page a sign-in goes on to (it is echoed in the form).
const maxNext = 1024

// nextPage is where a sign-in goes on to: a page of the SRE view that the
// sign-in page was asked for, never another site.
func nextPage(r *http.Request) string {
	next := r.FormValue("next")
	if len(next) <= maxNext && strings.HasPrefix(next, "/sre") && !strings.HasPrefix(next, "//") && !strings.Contains(next, "\\") {
		return next
	}
	return "/sre"
}

func (s *Server) showLogin(w http.ResponseWriter, r *http.Request, msg string, code int) {
	w.Header().Set("Cache-Control", "no-store")
	t := token()
	http.SetCookie(w, &http.Cookie{Name: loginCookie, Value: t, Path: "/sre", HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: s.o.Secure})
	if code != http.StatusOK {
		w.WriteHeader(code)
	}
	s.render(w, "login", map[string]string{"CSRF": t, "Error": msg, "Next": nextPage(r)})
}

func (s *Server) login(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 16<<10) // the form's fields are bounded
	c, err := r.Cookie(loginCookie)
	if err != nil || r.PostFormValue("csrf") == "" || subtle.ConstantTimeCompare([]byte(c.Value), []byte(r.PostFormValue("csrf"))) != 1 {
		s.showLogin(w, r, "The sign-in form expired; try again.", http.StatusForbidden)
		return
	}
	name, password := r.PostFormValue("user"), r.PostFormValue("password")
	if len(name) > maxUserName || len(password) > maxPassword {
		s.showLogin(w, r, "Unknown user or wrong password.", http.StatusUnauthorized)
		return
	}
	users := s.o.Users()
	dkey := deviceKey(users)
	keys, trusted := signinKeys(r, dkey, name)
	now := s.o.Now()
	client := clientKey(r)
	if wait := s.signins.wait(now, keys...); wait > 0 {
		secs := int(wait.Round(time.Second) / time.Second)
		if ok, held := s.signinLogs.allow(now, client); ok {
			s.o.Logger.Warn("sign-in refused: too many failures", "user", logName(name), "remote", r.RemoteAddr, "trusted_browser", trusted,
				"retry_in", wait.Round(time.Second), "not_logged_since", held)
		}
		w.Header().Set("Retry-After", strconv.Itoa(max(secs, 1)))
		s.showLogin(w, r, "Too many failed sign-ins; try again later.", http.StatusTooManyRequests)
		return
	}
	if !checkPassword(users, name, password) {
		s.signins.fail(now, keys...)
		if ok, held := s.signinLogs.allow(now, client); ok {
			s.o.Logger.Warn("sign-in refused: unknown user or wrong password", "user", logName(name), "remote", r.RemoteAddr,
				"trusted_browser", trusted, "not_logged_since", held)
		}
		s.showLogin(w, r, "Unknown user or wrong password.", http.StatusUnauthorized)
		return
	}
	s.signins.succeed(keys...)
	id := token()
	if err := s.sessions.PutSession(r.Context(), sessionKey(id), Session{User: name, CSRF: token(), Expires: s.o.Now().Add(s.o.SessionTTL)}); err != nil {
		s.o.Logger.Error("sign-in not saved", "user", name, "err", err)
		http.Error(w, "sign-in failed; try again", http.StatusServiceUnavailable)
		return
	}
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: id, Path: "/sre", HttpOnly: true, SameSite: http.SameSiteStrictMode,
		Secure: s.o.Secure, MaxAge: int(s.o.SessionTTL.Seconds())})
	// This browser is the user's own from now on (a new nonce each time).
	http.SetCookie(w, &http.Cookie{Name: deviceCookie, Value: newDeviceCookie(dkey, name), Path: "/sre/login", HttpOnly: true,
		SameSite: http.SameSiteStrictMode, Secure: s.o.Secure, MaxAge: int(deviceTTL.Seconds())})
	s.o.Logger.Info("signed in", "user", name)
	http.Redirect(w, r, nextPage(r), http.StatusSeeOther)
}

type ctxKey struct{}

// auth admits requests with a live session; a change (any POST) must also
// carry the session's CSRF token.
func (s *Server) auth(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var sess *Session
		if c, err := r.Cookie(sessionCookie); err == nil && c.Value != "" {
			if sess, err = s.sessions.Session(r.Context(), sessionKey(c.Value), s.o.Now()); err != nil {
				s.o.Logger.Error("session lookup", "err", err)
				http.Error(w, "sessions unavailable; try again", http.StatusServiceUnavailable)
				return
			}
		}
		if sess == nil {
			if r.Method == http.MethodGet {
				to := "/sre/login"
				if len(r.URL.RequestURI()) <= maxNext {
					to += "?next=" + url.QueryEscape(r.URL.RequestURI())
				}
				http.Redirect(w, r, to, http.StatusSeeOther)
				return
			}
			http.Error(w, "sign in first", http.StatusUnauthorized)
			return
		}
		// The SRE view is never cached, and a change's CSRF token comes
		// from the form body only, never the URL.
		w.Header().Set("Cache-Control", "no-store")
		if r.Method != http.MethodGet && subtle.ConstantTimeCompare([]byte(r.PostFormValue("csrf")), []byte(sess.CSRF)) != 1 {
			http.Error(w, "missing or wrong CSRF token", http.StatusForbidden)
			return
		}
		next(w, r.WithContext(context.WithValue(r.Context(), ctxKey{}, sess)))
	}
}

func current(r *http.Request) *Session { s, _ := r.Context().Value(ctxKey{}).(*Session); return s }

func (s *Server) logout(w http.ResponseWriter, r *http.Request) {
	if c, err := r.Cookie(sessionCookie); err == nil {
		if err := s.sessions.DeleteSession(r.Context(), sessionKey(c.Value)); err != nil {
			s.o.Logger.Error("sign-out not saved", "err", err)
		}
	}
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: "", Path: "/sre", MaxAge: -1})
	http.Redirect(w, r, "/sre/login", http.StatusSeeOther)
}

func (s *Server) overview(w http.ResponseWriter, r *http.Request) {
	p, err := s.o.Source.SREPage(r.Context())
	if err != nil {
		s.o.Logger.Error("sre page", "err", err)
		http.Error(w, "the overview is unavailable", http.StatusInternalServerError)
		return
	}
	sess := current(r)
	s.render(w, "sre", map[string]any{"Page": p, "User": sess.User, "CSRF": sess.CSRF})
}

func (s *Server) check(w http.ResponseWriter, r *http.Request) {
	q := CheckQuery{Range: r.URL.Query().Get("range"), Before: r.URL.Query().Get("before")}
	p, err := s.o.Source.CheckPage(r.Context(), r.PathValue("id"), q)
	if err != nil {
		http.Error(w, err.Error(), http.StatusNotFound)
		return
	}
	sess := current(r)
	s.render(w, "check", map[string]any{"Page": p, "User": sess.User, "CSRF": sess.CSRF, "Ranges": CheckRanges, "Vitals": VitalFigures})
}

// screenshot serves a kept screenshot of a failed browser check run: to
// signed-in SREs only (a page may show what the public must not see).
func (s *Server) screenshot(w http.ResponseWriter, r *http.Request) {
	ms, err := strconv.ParseInt(strings.TrimSuffix(r.PathValue("ms"), ".jpg"), 10, 64)
	if err != nil {
		http.Error(w, "no such screenshot", http.StatusNotFound)
		return
	}
	img, err := s.o.Source.Screenshot(r.Context(), r.PathValue("id"), r.PathValue("region"), time.UnixMilli(ms))
	if err != nil {
		s.o.Logger.Error("screenshot unavailable", "check", model.Clip(r.PathValue("id"), 64), "err", err)
		http.Error(w, "the screenshot is unavailable", http.StatusInternalServerError)
		return
	}
	if img == nil {
		http.Error(w, "no such screenshot", http.StatusNotFound)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "image/jpeg")
	h.Set("Cache-Control", "private, max-age=3600")
	h.Set("X-Content-Type-Options", "nosniff")
	w.Write(img)
}

// ack acknowledges the alert named by the form's key (keys may hold a
// slash, so it is not in the path) and goes back to where it was asked.
func (s *Server) ack(w http.ResponseWriter, r *http.Request) {
	key := r.FormValue("key")
	if key == "" {
		http.Error(w, "key: the alert to acknowledge is required", http.StatusBadRequest)
		return
	}
	if err := s.o.Source.Acknowledge(r.Context(), key, current(r).User); err != nil {
		http.Error(w, fmt.Sprintf("acknowledge %s: %v", key, err), http.StatusConflict)
		return
	}
	back := "/sre"
	if r.FormValue("back") == "alert" {
		back = model.AlertPath(key)
	}
	http.Redirect(w, r, back, http.StatusSeeOther)
}

// alert shows one alert and its notifications.
func (s *Server) alert(w http.ResponseWriter, r *http.Request) {
	key := r.PathValue("key")
	p, err := s.o.Source.AlertPage(r.Context(), key)
	switch {
	case err != nil:
		s.o.Logger.Error("alert page", "key", key, "err", err)
		http.Error(w, "the alert could not be read; try again", http.StatusServiceUnavailable)
		return
	case p == nil:
		http.Error(w, "no alert "+model.Clip(key, 64), http.StatusNotFound)
		return
	}
	sess := current(r)
	s.render(w, "alert", map[string]any{"Page": p, "User": sess.User, "CSRF": sess.CSRF})
}

var incidentStatuses = map[string]bool{"investigating": true, "identified": true, "monitoring": true, "resolved": true}

func (s *Server) incidentUpdate(w http.ResponseWriter, r *http.Request) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	status, body := r.FormValue("status"), strings.TrimSpace(r.FormValue("body"))
	switch {
	case err != nil:
		http.Error(w, "incident id: not a number", http.StatusBadRequest)
		return
	case !incidentStatuses[status]:
		http.Error(w, "status: must be investigating, identified, monitoring or resolved", http.StatusBadRequest)
		return
	case body == "" || len(body) > 2000:
		http.Error(w, "body: 1 to 2000 characters", http.StatusBadRequest)
		return
	}
	if err := s.o.Source.UpdateIncident(r.Context(), id, status, body, current(r).User); err != nil {
		http.Error(w, err.Error(), http.StatusNotFound)
		return
	}
	http.Redirect(w, r, "/sre", http.StatusSeeOther)
}

var incidentImpacts = map[string]bool{"none": true, "minor": true, "major": true, "critical": true}

// incidentEdit sets an incident's title and impact.
func (s *Server) incidentEdit(w http.ResponseWriter, r *http.Request) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	title, impact := strings.TrimSpace(r.FormValue("title")), r.FormValue("impact")
	switch {
	case err != nil:
		http.Error(w, "incident id: not a number", http.StatusBadRequest)
		return
	case title == "" || len(title) > 200:
		http.Error(w, "title: 1 to 200 characters", http.StatusBadRequest)
		return
	case !incidentImpacts[impact]:
		http.Error(w, "impact: must be none, minor, major or critical", http.StatusBadRequest)
		return
	}
	if err := s.o.Source.EditIncident(r.Context(), id, title, impact, current(r).User); err != nil {
		http.Error(w, err.Error(), http.StatusNotFound)
		return
	}
	http.Redirect(w, r, "/sre#incident-"+strconv.FormatInt(id, 10), http.StatusSeeOther)
}

// StatusJSON is the status page's JSON, as the export writes it.
func StatusJSON(p *StatusPage) ([]byte, error) { return json.MarshalIndent(p, "", "  ") }
