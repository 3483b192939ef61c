package contentsvc

import (
	"embed"
	"encoding/json"
	"io"
	"io/fs"
	"net/http"
	"path"
	"regexp"
	"strconv"
	"sync"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/nines-sre/nines/model"
)

// web holds the browser SDK (web/sdk/contentsvc-MAJOR.MINOR.PATCH.js) and
// the demo host application that embeds it.
//
//go:embed web/sdk/*.js web/app.html web/errors.html
var web embed.FS

// sdkFile is a versioned SDK file name: contentsvc-1.0.0.js.
var sdkFile = regexp.MustCompile(`^contentsvc-(\d+)\.(\d+)\.(\d+)\.js$`)

// sdkFiles maps what /sdk/v1/ serves to the embedded file: each version by
// its full name (immutable), and contentsvc-1.js, the newest 1.x.
func sdkFiles() map[string]string {
	out := map[string]string{}
	entries, _ := fs.ReadDir(web, "web/sdk")
	newest, best := "", [3]int{-1, -1, -1}
	for _, e := range entries {
		m := sdkFile.FindStringSubmatch(e.Name())
		if m == nil {
			continue
		}
		out[e.Name()] = "web/sdk/" + e.Name()
		var v [3]int
		for i := range v {
			v[i], _ = strconv.Atoi(m[i+1]) // digits, by the pattern
		}
		if v[0] == 1 && (v[1] > best[1] || v[1] == best[1] && v[2] > best[2]) {
			newest, best = e.Name(), v
		}
	}
	if newest != "" {
		out["contentsvc-1.js"] = "web/sdk/" + newest
	}
	return out
}

// sdk serves the browser SDK from the CDN: a versioned file for a year,
// the newest 1.x for five minutes.
func (s *Service) sdk(files map[string]string) echo.HandlerFunc {
	return func(c echo.Context) error {
		name := c.Param("file")
		src, ok := files[name]
		if !ok {
			return c.JSON(http.StatusNotFound, map[string]string{"error": "no SDK file " + path.Clean("/"+name)})
		}
		b, err := web.ReadFile(src)
		if err != nil {
			return err
		}
		h := c.Response().Header()
		if sdkFile.MatchString(name) {
			h.Set("Cache-Control", "public, max-age=31536000, immutable")
		} else {
			h.Set("Cache-Control", "public, max-age=300")
		}
		return c.Blob(http.StatusOK, "text/javascript; charset=utf-8", b)
	}
}

// app serves the demo host application: its own header, navigation and
// notes, and a slot the SDK renders into.
func (s *Service) app(c echo.Context) error {
	b, err := web.ReadFile("web/app.html")
	if err != nil {
		return err
	}
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.HTMLBlob(http.StatusOK, b)
}

// SDKError is an error the browser SDK contained or that stopped it, as
// it reports it.
type SDKError struct {
	ID         string    `json:"id"`
	Type       string    `json:"type"`
	Where      string    `json:"where"`
	Message    string    `json:"message"`
	Stack      string    `json:"stack"`
	SDKVersion string    `json:"sdk_version"`
	Page       string    `json:"page"`
	At         time.Time `json:"at"`
	UserAgent  string    `json:"user_agent"`
	Received   time.Time `json:"received"`
}

// maxSDKError bounds one report; keptSDKErrors how many are kept.
const (
	maxSDKError   = 16 << 10
	keptSDKErrors = 500
)

type sdkErrors struct {
	mu   sync.Mutex
	list []SDKError
	seen map[string]bool
}

// reportError takes an error report from the SDK (sent as text/plain, a
// simple cross-origin request): bounded, validated, kept once per id.
func (s *Service) reportError(c echo.Context) error {
	body, err := io.ReadAll(io.LimitReader(c.Request().Body, maxSDKError+1))
	if err != nil {
		return badRequest(c, "body: %v", err)
	}
	if len(body) > maxSDKError {
		return c.JSON(http.StatusRequestEntityTooLarge, map[string]string{"error": "body: more than 16 KiB"})
	}
	var e SDKError
	if err := json.Unmarshal(body, &e); err != nil {
		return badRequest(c, "body: not an error report: %v", err)
	}
	switch {
	case e.ID == "" || len(e.ID) > 64:
		return badRequest(c, "id: 1 to 64 characters")
	case e.Type != "error":
		return badRequest(c, "type: %q is not error", model.Clip(e.Type, 32))
	case e.Message == "":
		return badRequest(c, "message: required")
	}
	e.Message, e.Stack, e.Where, e.Page, e.SDKVersion = model.Clip(e.Message, 1000), model.Clip(e.Stack, 4000), model.Clip(e.Where, 200), model.Clip(e.Page, 1000), model.Clip(e.SDKVersion, 32)
	e.UserAgent, e.Received = model.Clip(c.Request().UserAgent(), 300), s.now().UTC()
	s.errs.mu.Lock()
	dup := s.errs.seen[e.ID]
	if !dup {
		s.errs.seen[e.ID] = true
		s.errs.list = append(s.errs.list, e)
		if len(s.errs.list) > keptSDKErrors {
			delete(s.errs.seen, s.errs.list[0].ID)
			s.errs.list = s.errs.list[1:]
		}
	}
	s.errs.mu.Unlock()
	if !dup {
		s.m.sdkErrors.Inc()
		s.log.Warn("SDK error reported", "where", e.Where, "message", model.Clip(e.Message, 200), "sdk_version", e.SDKVersion)
	}
	return c.NoContent(http.StatusAccepted)
}

func (s *Service) listErrors(c echo.Context) error {
	s.errs.mu.Lock()
	defer s.errs.mu.Unlock()
	return c.JSON(http.StatusOK, map[string]any{"errors": append([]SDKError{}, s.errs.list...)})
}

// crossOrigin lets a customer's page, on its own origin, call what the SDK
// calls; no credentials are ever taken.
func crossOrigin(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		c.Response().Header().Set("Access-Control-Allow-Origin", "*")
		return next(c)
	}
}
