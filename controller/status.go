package controller

import (
	"net/http"

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

// handleStatus serves the status document: whole, it is the published
// bytes (ETag, gzip, a few seconds of caching); filtered or paged, it is
// computed for what was asked, now.
func (c *Controller) handleStatus(ec echo.Context) error {
	q, compact, qerr := live.ParseQuery(ec.QueryParams())
	if qerr != nil {
		return fail(ec, http.StatusBadRequest, qerr.Field, qerr.Msg)
	}
	ctx := ec.Request().Context()
	cacheControl := "public, max-age=2"
	if c.Config().API.Private {
		cacheControl = "private, no-cache"
	}
	// The components not shown to the public are in the status only for
	// a caller with an API token, computed for it.
	q.Public = !c.hasAPIToken(ec.Request())
	if !q.Public {
		cacheControl = "private, no-cache"
	}
	if q.Whole() && q.Public {
		var r *snapshot.Rendered
		if compact {
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
	st, serr := c.status(q)
	if serr != nil {
		code := http.StatusNotFound
		if serr.Field == "cursor" {
			code = http.StatusBadRequest
		}
		return fail(ec, code, serr.Field, serr.Msg)
	}
	ec.Response().Header().Set("Cache-Control", cacheControl)
	if compact {
		return ec.JSON(http.StatusOK, live.Compact(&st))
	}
	return ec.JSON(http.StatusOK, &st)
}
