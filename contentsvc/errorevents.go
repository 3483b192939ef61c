package contentsvc

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"time"

	"golang.org/x/time/rate"

	"github.com/nines-sre/nines/contentsvc/events"
	"github.com/nines-sre/nines/internal/loop"
	"github.com/nines-sre/nines/model"
)

// announceBatch is how many new fingerprints one pass announces.
const announceBatch = 20

// Announcements one by one are bounded: announceBurst at once, then one
// every announceEvery. Past that (a storm of new errors, or a client
// making errors up with the page's public key) the fingerprints are told
// together, as one event (floodKey) that counts them; each stays on the
// review page.
const (
	announceBurst = 20
	announceEvery = time.Minute
	floodKey      = "error-flood"
)

// errNinesAway is an answer that a later pass may change: nothing is
// taken off what waits.
var errNinesAway = errors.New("nines did not take the event")

// announcer tells nines of new error fingerprints.
type announcer struct {
	s      *Service
	client *http.Client
	target func() string // the event rule's URL; "" while unknown
	review string        // the review page's address; "" when unknown
	lim    *rate.Limiter

	flooded    int       // fingerprints told together since floodSince
	floodSince time.Time // when the storm began
}

func newAnnouncer(s *Service, target func() string, review string) *announcer {
	return &announcer{s: s, client: &http.Client{Timeout: 10 * time.Second}, target: target, review: review,
		lim: rate.NewLimiter(rate.Every(announceEvery), announceBurst)}
}

// run tells nines, through an event rule's URL (/events/{rule}/{key}),
// of every new error fingerprint, every interval until each is taken:
// one event per fingerprint, keyed by it, so that one sent again is the
// same alert; past the bound, one event for them all.
func (a *announcer) run(ctx context.Context, every time.Duration) {
	loop.Every(ctx, every, false, a.pass,
		func(err error) {
			a.s.log.Warn("new error fingerprints not announced to nines; trying again", "err", err)
		}, nil)
}

// pass announces what waits, announceBatch at most.
func (a *announcer) pass(ctx context.Context) error {
	u := a.target()
	if u == "" {
		return nil
	}
	groups, err := a.s.evstore.Unannounced(ctx, announceBatch)
	if err != nil {
		return err
	}
	now := a.s.now()
	if a.lim.TokensAt(now) >= announceBurst {
		a.flooded = 0 // the storm, if any, is over
	}
	var flood []events.ErrorGroup
	for _, g := range groups {
		r := a.lim.ReserveN(now, 1)
		if r.DelayFrom(now) > 0 {
			r.CancelAt(now)
			flood = append(flood, g)
			continue
		}
		if err := a.told(ctx, u, newErrorEvent(g, a.review), g.Fingerprint); err != nil {
			r.CancelAt(now)
			return err
		}
	}
	if len(flood) == 0 {
		return nil
	}
	if a.flooded == 0 {
		a.floodSince = now
	}
	e := model.AlertEvent{Key: floodKey, Action: model.EventTrigger, Link: a.review,
		Summary: fmt.Sprintf("%d new error fingerprints in real users' pages since %s, more than are told one by one (%d at once, then one a minute)",
			a.flooded+len(flood), a.floodSince.UTC().Format("2006-01-02 15:04 UTC"), announceBurst),
		Details: map[string]string{"since": a.floodSince.UTC().Format(time.RFC3339), "latest": model.OneLine(flood[len(flood)-1].Message, 300)}}
	fps := make([]string, len(flood))
	for i, g := range flood {
		fps[i] = g.Fingerprint
	}
	if err := a.told(ctx, u, e, fps...); err != nil {
		return err
	}
	a.flooded += len(flood)
	return nil
}

// told sends e and, unless nines was away, takes fingerprints off what
// waits: an event refused for what it says is logged, and not sent again.
func (a *announcer) told(ctx context.Context, u string, e model.AlertEvent, fingerprints ...string) error {
	err := a.s.announce(ctx, a.client, u, e)
	switch {
	case errors.Is(err, errNinesAway):
		return err
	case err != nil:
		a.s.log.Error("new error fingerprint refused by nines; not sent again", "event", e.Key, "err", err)
	}
	for _, fp := range fingerprints {
		if err := a.s.evstore.Announced(ctx, fp); err != nil {
			return err
		}
	}
	return nil
}

// announce posts one event: nil when nines took it, errNinesAway when
// a later try may do better (no answer, 404 while its configuration
// loads, 429, 5xx), another error when nines refused what it says.
func (s *Service) announce(ctx context.Context, client *http.Client, u string, e model.AlertEvent) error {
	status, answer, err := postJSON(ctx, client, u, e)
	switch {
	case err != nil:
		return fmt.Errorf("%w: %w", errNinesAway, err)
	case status == http.StatusOK:
		return nil
	case status == http.StatusBadRequest:
		return fmt.Errorf("nines answered %d %s: %s", status, http.StatusText(status), answer)
	default:
		return fmt.Errorf("%w: nines answered %d %s", errNinesAway, status, http.StatusText(status))
	}
}

// newErrorEvent is the event that announces a new fingerprint.
func newErrorEvent(g events.ErrorGroup, review string) model.AlertEvent {
	summary := "New error in real users' pages: " + model.OneLine(g.Message, 300)
	if g.Component != "" {
		summary += " (component " + model.OneLine(g.Component, 60) + ")"
	}
	e := model.AlertEvent{Key: "error-" + g.Fingerprint, Action: model.EventTrigger, Summary: summary,
		Details: map[string]string{"fingerprint": g.Fingerprint, "first_seen": g.FirstSeen.Format(time.RFC3339),
			"sdk": model.OneLine(g.SDK, 100), "browser": model.OneLine(g.Browser, 200), "count": strconv.Itoa(g.Count)}}
	if len(g.Frames) > 0 && g.Frames[0] != "" {
		e.Details["top_frame"] = model.OneLine(g.Frames[0], 300)
	}
	if review != "" {
		e.Link = review
	}
	return e
}

// reviewURL is the errors' review page at addr, when addr names a host
// others can reach it by ("" for an unspecified address such as :8081).
func reviewURL(addr string) string {
	host, _, err := net.SplitHostPort(addr)
	if ip := net.ParseIP(host); err != nil || host == "" || ip != nil && ip.IsUnspecified() {
		return ""
	}
	return "http://" + addr + "/admin/errors/review"
}
