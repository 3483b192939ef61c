package controller

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"github.com/nines-sre/nines/internal/clientlimit"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/nines-sre/nines/alerting"
	"github.com/nines-sre/nines/controller/alerts"
	"github.com/nines-sre/nines/controller/ingest"
)

// EvaluateAlerts runs the alert rules once, and brings the status page's
// incidents up to date.
func (c *Controller) EvaluateAlerts(ctx context.Context) error {
	if err := c.alerts.Evaluate(ctx); err != nil {
		return err
	}
	return c.pages.SyncIncidents(ctx)
}

// Dispatcher exposes the outbox dispatcher (tests tune its backoff).
func (c *Controller) Dispatcher() *alerting.Dispatcher { return c.alerts.Dispatcher() }

func (c *Controller) handleAlerts(ec echo.Context) error {
	as, err := c.store.RecentAlerts(ec.Request().Context(), c.now().Add(-24*time.Hour))
	if err != nil {
		return err
	}
	if as == nil {
		as = []alerting.Alert{}
	}
	return ec.JSON(http.StatusOK, map[string]any{"alerts": as})
}

// alertKey is the alert key in the rest of the path, less suffix.
func alertKey(ec echo.Context, suffix string) (string, bool) {
	rest, err := url.PathUnescape(ec.Param("*"))
	if err != nil {
		return "", false
	}
	key, ok := strings.CutSuffix(rest, suffix)
	return key, ok && key != ""
}

func (c *Controller) handleAlert(ec echo.Context) error {
	ctx := ec.Request().Context()
	key, ok := alertKey(ec, "")
	if !ok {
		return fail(ec, http.StatusBadRequest, "key", "the path must name an alert: /api/v1/alerts/{key}")
	}
	a, err := c.store.Alert(ctx, key)
	if err != nil {
		return err
	}
	if a == nil {
		return fail(ec, http.StatusNotFound, "key", "no alert "+key)
	}
	hist, err := c.store.AlertNotifications(ctx, a.Key)
	if err != nil {
		return err
	}
	return ec.JSON(http.StatusOK, map[string]any{"alert": a, "notifications": hist})
}

// authAPI accepts the configured API tokens.
// readAPI lets reads through, or with api.private only those that carry
// an API token.
func (c *Controller) readAPI(next echo.HandlerFunc) echo.HandlerFunc {
	authed := c.authAPI(next)
	return func(ec echo.Context) error {
		if c.Config().API.Private {
			return authed(ec)
		}
		return next(ec)
	}
}

func (c *Controller) authAPI(next echo.HandlerFunc) echo.HandlerFunc {
	return func(ec echo.Context) error {
		client := clientlimit.Key(ec.Request())
		if c.guesses.Spent(client) {
			return tooManyGuesses(ec)
		}
		if c.hasAPIToken(ec.Request()) {
			c.guesses.Trust(client)
			return next(ec)
		}
		if ec.Request().Header.Get("Authorization") != "" {
			c.guesses.Allow(client) // a wrong token costs a guess
		}
		return fail(ec, http.StatusUnauthorized, "Authorization", "an API token from alerting.api_tokens is required")
	}
}

// hasAPIToken reports whether r carries one of alerting.api_tokens.
func (c *Controller) hasAPIToken(r *http.Request) bool {
	tok, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if tok == "" {
		return false
	}
	for _, t := range c.Config().Alerting.APITokens {
		if subtle.ConstantTimeCompare([]byte(tok), []byte(t)) == 1 {
			return true
		}
	}
	return false
}

func (c *Controller) handleAck(ec echo.Context) error {
	key, ok := alertKey(ec, "/ack")
	if !ok {
		return fail(ec, http.StatusNotFound, "", "no such action: POST /api/v1/alerts/{key}/ack acknowledges an alert")
	}
	var body struct {
		By string `json:"by"`
	}
	// The body is optional: {"by": "who"}.
	if be := decodeSmall(ec, &body, true); be != nil {
		return fail(ec, be.Code, "", be.Msg)
	}
	if body.By == "" {
		body.By = "api"
	}
	a, err := c.alerts.Acknowledge(ec.Request().Context(), key, body.By)
	switch {
	case errors.Is(err, alerting.ErrNotFound):
		return fail(ec, http.StatusNotFound, "key", err.Error())
	case errors.Is(err, alerting.ErrNotOpen):
		return fail(ec, http.StatusConflict, "key", err.Error())
	case err != nil:
		return err
	}
	return ec.JSON(http.StatusOK, a)
}

// handlePagerDutyWebhook takes acknowledgements from PagerDuty (webhooks
// v3, alerts.PagerDutyAck).
func (c *Controller) handlePagerDutyWebhook(ec echo.Context) error {
	secret := c.Config().Alerting.PagerDutyWebhookSecret
	if secret == "" {
		return fail(ec, http.StatusNotFound, "", "no PagerDuty webhook secret is configured")
	}
	// The body is bounded (PagerDuty's own limit) before anything else;
	// the signature is go-pagerduty's webhookv3 check.
	body, be := ingest.ReadLimited(ec.Response(), ec.Request(), ingest.MaxWebhookBytes)
	if be != nil {
		return fail(ec, be.Code, "", be.Msg)
	}
	key, by, ok, err := alerts.PagerDutyAck(ec.Request(), body, secret)
	switch {
	case errors.Is(err, alerts.ErrSignature):
		return fail(ec, http.StatusUnauthorized, "X-PagerDuty-Signature", err.Error())
	case err != nil:
		return fail(ec, http.StatusBadRequest, "", err.Error())
	case !ok:
		return ec.NoContent(http.StatusNoContent) // other events are of no concern
	}
	if _, err := c.alerts.Acknowledge(ec.Request().Context(), key, by); err != nil &&
		!errors.Is(err, alerting.ErrNotFound) && !errors.Is(err, alerting.ErrNotOpen) {
		return fmt.Errorf("acknowledge from PagerDuty: %w", err)
	}
	return ec.NoContent(http.StatusNoContent)
}
