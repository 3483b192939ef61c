package dashboard

import (
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/nines-sre/nines/internal/clientlimit"
)

// The subscription pages work without JavaScript: a form on the status
// page, a confirmation page whose button confirms (a mail scanner that
// opens the link confirms nothing), and an unsubscribe page that also
// takes RFC 8058's one-click POST.

// subscribeLimit bounds subscriptions per client address: a few in a
// burst, one a minute after.
var subscribeLimit = struct {
	every time.Duration
	burst int
}{time.Minute, 5}

// maxLimited bounds the client addresses whose rate is remembered.
const maxLimited = 10_000

// newSubscribeLimits is the per-client limit of subscriptions.
func newSubscribeLimits() *clientlimit.Limits {
	return &clientlimit.Limits{Every: subscribeLimit.every, Burst: subscribeLimit.burst, Max: maxLimited}
}

func (s *Server) subscribe(w http.ResponseWriter, r *http.Request) {
	if s.o.Subscriptions == nil {
		http.NotFound(w, r)
		return
	}
	if !s.subscribeLimits.Allow(clientlimit.Key(r)) {
		w.Header().Set("Retry-After", "60")
		s.subscribePage(w, http.StatusTooManyRequests, map[string]any{"Error": "Too many subscriptions from here; try again in a minute."})
		return
	}
	if err := r.ParseForm(); err != nil || len(r.PostForm["component"]) > 1000 {
		s.subscribePage(w, http.StatusBadRequest, map[string]any{"Error": "The form could not be read."})
		return
	}
	res, err := s.o.Subscriptions.Subscribe(r.Context(), r.PostFormValue("kind"), r.PostFormValue("address"), r.PostForm["component"])
	var fe *FormError
	switch {
	case errors.As(err, &fe):
		s.subscribePage(w, http.StatusBadRequest, map[string]any{"Error": fe.Msg})
		return
	case err != nil:
		s.o.Logger.Error("subscribe", "err", err)
		s.subscribePage(w, http.StatusServiceUnavailable, map[string]any{"Error": "The subscription could not be taken now; try again later."})
		return
	}
	s.subscribePage(w, http.StatusOK, map[string]any{"Result": res})
}

func (s *Server) confirmPage(w http.ResponseWriter, r *http.Request) {
	if s.o.Subscriptions == nil {
		http.NotFound(w, r)
		return
	}
	s.subscribePage(w, http.StatusOK, map[string]any{"Confirm": r.URL.Query().Get("token")})
}

func (s *Server) confirm(w http.ResponseWriter, r *http.Request) {
	if s.o.Subscriptions == nil {
		http.NotFound(w, r)
		return
	}
	res, err := s.o.Subscriptions.Confirm(r.Context(), r.PostFormValue("token"))
	switch {
	case err != nil:
		s.o.Logger.Error("confirm subscription", "err", err)
		s.subscribePage(w, http.StatusServiceUnavailable, map[string]any{"Error": "The subscription could not be confirmed now; try again later."})
	case res == nil:
		s.subscribePage(w, http.StatusNotFound, map[string]any{"Error": "This link is not valid: the subscription was confirmed with a newer one, or ended."})
	default:
		s.subscribePage(w, http.StatusOK, map[string]any{"Result": res})
	}
}

func (s *Server) unsubscribePage(w http.ResponseWriter, r *http.Request) {
	if s.o.Subscriptions == nil {
		http.NotFound(w, r)
		return
	}
	s.subscribePage(w, http.StatusOK, map[string]any{"Unsubscribe": r.URL.Query().Get("token")})
}

// unsubscribe ends a subscription: from the page's button, or from a mail
// client's one-click POST (List-Unsubscribe-Post), the token in the URL.
func (s *Server) unsubscribe(w http.ResponseWriter, r *http.Request) {
	if s.o.Subscriptions == nil {
		http.NotFound(w, r)
		return
	}
	token := r.PostFormValue("token")
	if token == "" {
		token = r.URL.Query().Get("token")
	}
	ok, err := s.o.Subscriptions.Unsubscribe(r.Context(), token)
	switch {
	case err != nil:
		s.o.Logger.Error("unsubscribe", "err", err)
		s.subscribePage(w, http.StatusServiceUnavailable, map[string]any{"Error": "The subscription could not be ended now; try again later."})
	case !ok:
		s.subscribePage(w, http.StatusNotFound, map[string]any{"Error": "This link is not valid: the subscription has ended already."})
	default:
		s.subscribePage(w, http.StatusOK, map[string]any{"Unsubscribed": true})
	}
}

func (s *Server) subscribePage(w http.ResponseWriter, status int, data map[string]any) {
	data["Title"] = "Subscription"
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	s.render(w, "subscription", data)
}

// subscribers is the SRE view's list of subscribers.
func (s *Server) subscribers(w http.ResponseWriter, r *http.Request) {
	if s.o.Subscriptions == nil {
		http.NotFound(w, r)
		return
	}
	subs, err := s.o.Subscriptions.Subscribers(r.Context())
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	sess := current(r)
	s.render(w, "subscribers", map[string]any{"Subscribers": subs, "User": sess.User, "CSRF": sess.CSRF})
}

func (s *Server) removeSubscriber(w http.ResponseWriter, r *http.Request) {
	id, err := strconv.ParseInt(r.PostFormValue("id"), 10, 64)
	if err != nil || s.o.Subscriptions == nil {
		http.Error(w, "id: the subscriber to remove is required", http.StatusBadRequest)
		return
	}
	if err := s.o.Subscriptions.RemoveSubscriber(r.Context(), id); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	http.Redirect(w, r, "/sre/subscribers", http.StatusSeeOther)
}
