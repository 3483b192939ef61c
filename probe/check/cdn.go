package check

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/nines-sre/nines/assertion"
	"github.com/nines-sre/nines/model"
)

// cacheHeaders are the answer headers that tell which edge cache served an
// asset and how fresh its copy is.
var cacheHeaders = []string{"Age", "X-Cache", "X-Cache-Status", "X-Cache-Hits", "CF-Cache-Status", "X-Served-By", "Via", "Cache-Control", "ETag", "Last-Modified"}

// CDN runs a cdn check: the asset is fetched whole; its checksum or size,
// its caching headers and its content version are verified. Every result
// records what the region saw: the edge IP, the cache headers, the content
// hash and version, so the controller can tell a stale edge.
func CDN(ctx context.Context, c *model.Check, env Env) Observation {
	spec := c.CDN
	if spec == nil {
		return Observation{Class: model.ErrInternal, Err: errors.New("cdn check without a cdn block")}
	}
	h := sha256.New()
	obs, info := fetch(ctx, &spec.HTTPSpec, env, h)
	if obs.Err != nil {
		return obs
	}
	sum := h.Sum(nil)
	edge := &model.Edge{IP: info.remoteIP, ContentHash: hex.EncodeToString(sum[:16])}
	for _, k := range cacheHeaders {
		if v := obs.Subject.Header.Get(k); v != "" {
			if edge.Cache == nil {
				edge.Cache = map[string]string{}
			}
			edge.Cache[k] = v
		}
	}
	edge.Version = contentVersion(spec, &obs.Subject)
	obs.Subject.Version = edge.Version
	obs.Edge = edge
	s := obs.Subject.Status
	switch {
	case s < 200 || s >= 300:
		obs.Class, obs.Err = model.ErrStatus, fmt.Errorf("status %d is not 2xx", s)
	case spec.SHA256 != "" && !strings.EqualFold(hex.EncodeToString(sum), spec.SHA256):
		obs.Class, obs.Err = model.ErrAssertion, fmt.Errorf("sha256 %s, expected %s", hex.EncodeToString(sum), spec.SHA256)
	case spec.Size > 0 && obs.Subject.Size != spec.Size:
		obs.Class, obs.Err = model.ErrAssertion, fmt.Errorf("size %d bytes, expected %d", obs.Subject.Size, spec.Size)
	case spec.RequireCaching && obs.Subject.Header.Get("Cache-Control") == "":
		obs.Class, obs.Err = model.ErrAssertion, errors.New("no Cache-Control header")
	case spec.RequireCaching && obs.Subject.Header.Get("ETag") == "":
		obs.Class, obs.Err = model.ErrAssertion, errors.New("no ETag header")
	case spec.ExpectVersion != "" && edge.Version != spec.ExpectVersion:
		obs.Class, obs.Err = model.ErrAssertion, fmt.Errorf("served version %q, expected %q", edge.Version, spec.ExpectVersion)
	}
	return obs
}

// contentVersion reads the served version from a header or a JSON path.
func contentVersion(spec *model.CDNSpec, s *assertion.Subject) string {
	if spec.VersionHeader != "" {
		return s.Header.Get(spec.VersionHeader)
	}
	if spec.VersionJSON == "" {
		return ""
	}
	v, err := s.JSONBody()
	if err != nil {
		return ""
	}
	for _, key := range strings.Split(spec.VersionJSON, ".") {
		switch t := v.(type) {
		case map[string]any:
			v = t[key]
		case []any:
			var i int
			if _, err := fmt.Sscan(key, &i); err != nil || i < 0 || i >= len(t) {
				return ""
			}
			v = t[i]
		default:
			return ""
		}
	}
	switch t := v.(type) {
	case nil:
		return ""
	case string:
		return t
	default:
		b, _ := json.Marshal(t)
		return string(b)
	}
}
