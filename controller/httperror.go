package controller

import (
	"errors"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
)

// httpError is the one error path at the HTTP edge: every error a handler
// returns is answered in the API's error shape (apiError), and every
// answer of 500 or more is logged with the request's method and route.
// An error that is not an echo.HTTPError is a failure of ours: its text
// goes to the log, not to the client.
func (c *Controller) httpError(err error, ec echo.Context) {
	code, msg := http.StatusInternalServerError, "internal error; the controller's log says more"
	var he *echo.HTTPError
	if errors.As(err, &he) {
		code = he.Code
		if m, ok := he.Message.(string); ok {
			msg = m
		} else {
			msg = http.StatusText(code)
		}
	}
	if code >= http.StatusInternalServerError {
		c.logFailure(ec, code, "err", err)
	}
	if ec.Response().Committed {
		return
	}
	var werr error
	if ec.Request().Method == http.MethodHead {
		werr = ec.NoContent(code)
	} else {
		werr = ec.JSON(code, apiError{Error: msg})
	}
	if werr != nil {
		c.log.Warn("error answer not written", "route", ec.Path(), "err", werr)
	}
}

// logFailures logs the answers of 500 or more that a handler wrote itself
// (fail), with how long they took; those it returned as errors httpError
// logs.
func (c *Controller) logFailures(next echo.HandlerFunc) echo.HandlerFunc {
	return func(ec echo.Context) error {
		began := time.Now()
		err := next(ec)
		if st := ec.Response().Status; err == nil && st >= http.StatusInternalServerError {
			c.logFailure(ec, st, "took", time.Since(began).Round(time.Millisecond))
		}
		return err
	}
}

// logFailure logs an answer of status to ec's request, with attrs.
func (c *Controller) logFailure(ec echo.Context, status int, attrs ...any) {
	c.log.Error("request failed", append([]any{"method", ec.Request().Method, "route", ec.Path(),
		"path", loggedPath(ec), "status", status}, attrs...)...)
}

// loggedPath is the request's path as logs may show it: on a route whose
// :key is a credential in the path (pings, pushed counts, events), the
// route with its parameters but the key.
func loggedPath(ec echo.Context) string {
	if !slices.Contains(ec.ParamNames(), "key") {
		return ec.Request().URL.Path
	}
	parts := strings.Split(ec.Path(), "/")
	for i, p := range parts {
		if name, ok := strings.CutPrefix(p, ":"); ok {
			parts[i] = ec.Param(name)
			if name == "key" {
				parts[i] = "REDACTED"
			}
		}
	}
	return strings.Join(parts, "/")
}
