package controller

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/nines-sre/nines/controller/live"
	"github.com/nines-sre/nines/internal/snapshot"
)

// Status computes the whole status document.
func (c *Controller) Status() live.StatusResponse {
	st, _ := c.status(live.Query{})
	return st
}

// status computes the status document of what q asks for, now.
func (c *Controller) status(q live.Query) (live.StatusResponse, *live.QueryError) {
	return c.live.Status(c.Config(), q, c.now(), c.reloadStatus())
}

// statusQuery is what GET /api/v1/status was asked: components and checks
// to keep (none: all), and a page of the components.
type statusQuery struct {
	live.Query
	compact bool
}

// maxStatusLimit bounds a page of components.
const maxStatusLimit = 1000

func parseStatusQuery(ec echo.Context) (statusQuery, *apiError) {
	q := statusQuery{}
	list := func(name string) map[string]bool {
		var m map[string]bool
		for _, v := range ec.QueryParams()[name] {
			for _, id := range strings.Split(v, ",") {
				if id = strings.TrimSpace(id); id != "" {
					if m == nil {
						m = map[string]bool{}
					}
					m[id] = true
				}
			}
		}
		return m
	}
	q.Components, q.Checks = list("component"), list("check")
	switch v := ec.QueryParam("view"); v {
	case "", "full":
	case "compact":
		q.compact = true
	default:
		return q, &apiError{Field: "view", Error: fmt.Sprintf("%q is not a view: full or compact", v)}
	}
	if v := ec.QueryParam("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxStatusLimit {
			return q, &apiError{Field: "limit", Error: fmt.Sprintf("%q is not a number of components from 1 to %d", v, maxStatusLimit)}
		}
		q.Limit = n
	}
	q.Cursor = ec.QueryParam("cursor")
	return q, nil
}

// whole says the query asks for the whole document.
func (q statusQuery) whole() bool {
	return q.Components == nil && q.Checks == nil && q.Limit == 0 && q.Cursor == ""
}

// handleStatus serves the status document: whole, it is the published
// bytes (ETag, gzip, a few seconds of caching); filtered or paged, it is
// computed for what was asked, now.
func (c *Controller) handleStatus(ec echo.Context) error {
	q, qerr := parseStatusQuery(ec)
	if qerr != nil {
		return fail(ec, http.StatusBadRequest, qerr.Field, qerr.Error)
	}
	ctx := ec.Request().Context()
	cacheControl := "public, max-age=2"
	if c.Config().API.Private {
		cacheControl = "private, no-cache"
	}
	if q.whole() {
		var r *snapshot.Rendered
		if q.compact {
			e, err := c.published.compact.Get(ctx)
			if err != nil {
				return err
			}
			r = e.Rendered
		} else {
			e, err := c.published.status.Get(ctx)
			if err != nil {
				return err
			}
			r = e.Rendered
		}
		r.Serve(ec.Response(), ec.Request(), cacheControl)
		return nil
	}
	st, serr := c.status(q.Query)
	if serr != nil {
		code := http.StatusNotFound
		if serr.Field == "cursor" {
			code = http.StatusBadRequest
		}
		return fail(ec, code, serr.Field, serr.Msg)
	}
	ec.Response().Header().Set("Cache-Control", cacheControl)
	if q.compact {
		return ec.JSON(http.StatusOK, live.Compact(&st))
	}
	return ec.JSON(http.StatusOK, &st)
}
