// Package snapshot serves documents that many ask for and few change: the
// status page, the status JSON, the badges. Each is rendered once per
// change of what it shows and its bytes, gzipped once, go to every visitor
// with an ETag, so that a crowd costs a copy per request, not a render.
package snapshot

import (
	"bytes"

	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/klauspost/compress/gzip"
)

// Rendered is one document's bytes, as sent.
type Rendered struct {
	Body        []byte
	Gzip        []byte // nil when gzip does not make it smaller
	ETag        string // strong, quoted
	ContentType string
}

// minGzip is the size below which a body is sent as it is.
const minGzip = 1 << 10

// Render prepares body for serving: its ETag (a digest of the bytes) and,
// when worth it, its gzip form.
func Render(body []byte, contentType string) *Rendered {
	sum := sha256.Sum256(body)
	r := &Rendered{Body: body, ETag: `"` + hex.EncodeToString(sum[:12]) + `"`, ContentType: contentType}
	if len(body) >= minGzip {
		var b bytes.Buffer
		zw, _ := gzip.NewWriterLevel(&b, gzip.DefaultCompression)
		_, _ = zw.Write(body)
		_ = zw.Close()
		if b.Len() < len(body) {
			r.Gzip = b.Bytes()
		}
	}
	return r
}

// Serve answers req with r: 304 when the client holds these bytes, the
// gzip form when it accepts gzip, and cacheControl as Cache-Control.
func (r *Rendered) Serve(w http.ResponseWriter, req *http.Request, cacheControl string) {
	h := w.Header()
	h.Set("ETag", r.ETag)
	h.Set("Cache-Control", cacheControl)
	if r.Gzip != nil {
		h.Add("Vary", "Accept-Encoding")
	}
	if matches(req.Header.Get("If-None-Match"), r.ETag) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	h.Set("Content-Type", r.ContentType)
	body := r.Body
	if r.Gzip != nil && acceptsGzip(req.Header.Get("Accept-Encoding")) {
		h.Set("Content-Encoding", "gzip")
		body = r.Gzip
	}
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusOK)
	if req.Method != http.MethodHead {
		_, _ = w.Write(body)
	}
}

// matches says whether an If-None-Match header names etag (weak
// comparison, as RFC 9110 asks for If-None-Match).
func matches(header, etag string) bool {
	if header == "" {
		return false
	}
	for part := range strings.SplitSeq(header, ",") {
		part = strings.TrimSpace(part)
		if part == "*" || strings.TrimPrefix(part, "W/") == etag {
			return true
		}
	}
	return false
}

// acceptsGzip reads Accept-Encoding: gzip unless its q is 0.
func acceptsGzip(header string) bool {
	for part := range strings.SplitSeq(header, ",") {
		name, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		if !strings.EqualFold(strings.TrimSpace(name), "gzip") && strings.TrimSpace(name) != "*" {
			continue
		}
		q := strings.ReplaceAll(strings.TrimSpace(params), " ", "")
		if v, ok := strings.CutPrefix(q, "q="); ok {
			if f, err := strconv.ParseFloat(v, 64); err == nil && f == 0 {
				return false
			}
		}
		return true
	}
	return false
}

// Entry is a document as built: the value it was rendered from and its
// bytes.
type Entry[T any] struct {
	Value T
	*Rendered
	version, urgent uint64
	built           time.Time
}

// Options tune a Cache.
type Options struct {
	// Version says what the document shows has changed when it returns
	// something new (a counter the owner bumps on every change).
	Version func() uint64
	// MinInterval is the least time between two builds, however often the
	// version changes: under a stream of changes the document is at most
	// this old.
	MinInterval time.Duration
	// Urgent, when it returns something new, rebuilds the document without
	// waiting for MinInterval (a verdict flipped: those who ask should know
	// at once); still at most ten times a MinInterval.
	Urgent func() uint64
	// MaxAge rebuilds a document even when the version did not change, for
	// what changes with time alone (a result growing stale).
	MaxAge time.Duration
	// StaleFor is how old a due document may be and still be served
	// while a newer one is built (default 1 s): the first reader after an
	// idle period waits for the build rather than reading old news.
	StaleFor time.Duration
}

// DefaultStaleFor is Options.StaleFor's default.
const DefaultStaleFor = time.Second

// Cache holds one document and rebuilds it when it is asked for and its
// version changed (at most once per MinInterval) or it is MaxAge old.
type Cache[T any] struct {
	build func(ctx context.Context) (T, []byte, error)
	ctype string
	o     Options
	cur   atomic.Pointer[Entry[T]]
	mu    sync.Mutex // held while building
	// Builds counts the documents built.
	Builds atomic.Int64
}

// New makes a cache of documents of contentType that build renders.
func New[T any](contentType string, o Options, build func(ctx context.Context) (T, []byte, error)) *Cache[T] {
	return &Cache[T]{build: build, ctype: contentType, o: o}
}

// Get returns the current document. When it is due and was built within
// StaleFor, one caller rebuilds it in the background and everyone
// meanwhile gets it as it is; when it is due and older, callers wait for
// the build (one build for all of them), so that nobody reads a copy
// older than StaleFor of a change. The very first callers wait for a
// document. Without Options.Version every call waits for a build of its
// own.
func (c *Cache[T]) Get(ctx context.Context) (*Entry[T], error) {
	e := c.cur.Load()
	if e != nil && c.o.Version != nil {
		if !c.due(e) {
			return e, nil
		}
		if time.Since(e.built) <= c.staleFor() {
			if c.mu.TryLock() {
				go func() {
					defer c.mu.Unlock()
					ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), buildTimeout)
					defer cancel()
					_, _ = c.rebuild(ctx)
				}()
			}
			return e, nil
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.rebuild(ctx)
}

func (c *Cache[T]) staleFor() time.Duration {
	if c.o.StaleFor > 0 {
		return c.o.StaleFor
	}
	return DefaultStaleFor
}

// buildTimeout bounds a background build.
const buildTimeout = time.Minute

// rebuild builds the document when it is (still) due; c.mu is held. A
// failed build leaves the document as it was.
func (c *Cache[T]) rebuild(ctx context.Context) (*Entry[T], error) {
	e := c.cur.Load()
	if e != nil && !c.due(e) {
		return e, nil
	}
	version, urgent := c.version()
	v, body, err := c.build(ctx)
	if err != nil {
		if e != nil {
			return e, nil
		}
		return nil, err
	}
	c.Builds.Add(1)
	next := &Entry[T]{Value: v, version: version, urgent: urgent, built: time.Now()}
	if e != nil && bytes.Equal(e.Body, body) {
		next.Rendered = e.Rendered // unchanged: the same ETag, no gzip again
	} else {
		next.Rendered = Render(body, c.ctype)
	}
	c.cur.Store(next)
	return next, nil
}

func (c *Cache[T]) version() (version, urgent uint64) {
	if c.o.Version != nil {
		version = c.o.Version()
	}
	if c.o.Urgent != nil {
		urgent = c.o.Urgent()
	}
	return version, urgent
}

// due says whether e should be rebuilt now.
func (c *Cache[T]) due(e *Entry[T]) bool {
	age := time.Since(e.built)
	if c.o.Version == nil {
		return age >= c.o.MinInterval
	}
	if c.o.MaxAge > 0 && age >= c.o.MaxAge {
		return true
	}
	if c.o.Urgent != nil && e.urgent != c.o.Urgent() && age >= c.o.MinInterval/10 {
		return true
	}
	return e.version != c.o.Version() && age >= c.o.MinInterval
}
