package contentsvc

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/nines-sre/nines/contentsvc/events"
	"github.com/nines-sre/nines/internal/loop"
	"github.com/nines-sre/nines/model"
)

// announceBatch is how many new fingerprints one pass announces.
const announceBatch = 20

// errNinesAway is an answer that a later pass may change: nothing is
// taken off what waits.
var errNinesAway = errors.New("nines did not take the event")

// announceErrors tells nines, through an event rule's URL
// (/events/{rule}/{key}; "" while unknown), of every new error
// fingerprint, every interval until each is taken: one event per
// fingerprint, keyed by it, so that one sent again is the same alert.
// review is the address of the errors' review page ("" when unknown).
func (s *Service) announceErrors(ctx context.Context, every time.Duration, target func() string, review string) {
	client := &http.Client{Timeout: 10 * time.Second}
	loop.Every(ctx, every, false, func(ctx context.Context) error {
		u := target()
		if u == "" {
			return nil
		}
		groups, err := s.evstore.Unannounced(ctx, announceBatch)
		if err != nil {
			return err
		}
		for _, g := range groups {
			err := s.announce(ctx, client, u, newErrorEvent(g, review))
			switch {
			case errors.Is(err, errNinesAway):
				return err
			case err != nil:
				// Refused for what it says: sending it again changes
				// nothing.
				s.log.Error("new error fingerprint refused by nines; not sent again", "fingerprint", g.Fingerprint, "err", err)
			}
			if err := s.evstore.Announced(ctx, g.Fingerprint); err != nil {
				return err
			}
		}
		return nil
	}, func(err error) { s.log.Warn("new error fingerprints not announced to nines; trying again", "err", err) }, nil)
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

// unprintable are the characters an event's text may not carry.
var unprintable = regexp.MustCompile(`[\x00-\x1f\x7f]+`)

// newErrorEvent is the event that announces a new fingerprint.
func newErrorEvent(g events.ErrorGroup, review string) model.AlertEvent {
	clean := func(s string, n int) string {
		return model.Clip(strings.TrimSpace(unprintable.ReplaceAllString(s, " ")), n)
	}
	summary := "New error in real users' pages: " + clean(g.Message, 300)
	if g.Component != "" {
		summary += " (component " + clean(g.Component, 60) + ")"
	}
	e := model.AlertEvent{Key: "error-" + g.Fingerprint, Action: model.EventTrigger, Summary: summary,
		Details: map[string]string{"fingerprint": g.Fingerprint, "first_seen": g.FirstSeen.Format(time.RFC3339),
			"sdk": clean(g.SDK, 100), "browser": clean(g.Browser, 200), "count": strconv.Itoa(g.Count)}}
	if len(g.Frames) > 0 && g.Frames[0] != "" {
		e.Details["top_frame"] = clean(g.Frames[0], 300)
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
