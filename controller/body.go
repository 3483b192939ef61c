package controller

import (
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"
)

// Bounds of what one request may make the controller read.
const (
	// maxBatchBytes bounds a result batch as decoded (after gzip): a batch
	// of 1,000 results with the longest messages and facts is about 1 MB.
	maxBatchBytes = 8 << 20
	// maxWebhookBytes is PagerDuty's own limit for a webhook body.
	maxWebhookBytes = 2 << 20
	// maxDecoding is how many large bodies are decoded at once; the others
	// wait their turn (or their request's end).
	maxDecoding = 4
	// largeBody is where a body starts to count as large.
	largeBody = 64 << 10
)

// bodyError is a body refused, with the status that says why.
type bodyError struct {
	code int
	msg  string
}

func (e *bodyError) Error() string { return e.msg }

// boundedReader fails once more than max bytes were read: the decoder
// stops there and never buffers past it.
type boundedReader struct {
	r    io.Reader
	left int64
}

var errTooLarge = errors.New("too large")

func (b *boundedReader) Read(p []byte) (int, error) {
	if b.left <= 0 {
		return 0, errTooLarge
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.r.Read(p)
	b.left -= int64(n)
	return n, err
}

// decoding bounds how many large bodies are decoded at once.
type decoding chan struct{}

func newDecoding() decoding { return make(decoding, maxDecoding) }

// acquire waits for a turn, or for ctx to end.
func (d decoding) acquire(ctx context.Context) error {
	select {
	case d <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (d decoding) release() { <-d }

// decodeBatch decodes a JSON request body into v as a bounded stream:
// application/json only (415 otherwise), gzip when so labelled (400 when it
// is not gzip), at most max bytes decoded (413 past that). Large bodies
// wait for one of a few decoding turns.
func (c *Controller) decodeBatch(r *http.Request, v any, max int64) *bodyError {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		if mt, _, err := mime.ParseMediaType(ct); err != nil || mt != "application/json" {
			return &bodyError{http.StatusUnsupportedMediaType, fmt.Sprintf("Content-Type: %q is not application/json", ct)}
		}
	} else {
		return &bodyError{http.StatusUnsupportedMediaType, "Content-Type: application/json is required"}
	}
	if r.ContentLength > max {
		return &bodyError{http.StatusRequestEntityTooLarge, fmt.Sprintf("body: %d bytes, more than the %d allowed", r.ContentLength, max)}
	}
	gz := false
	switch enc := strings.ToLower(strings.TrimSpace(r.Header.Get("Content-Encoding"))); enc {
	case "", "identity":
	case "gzip":
		gz = true
	default:
		return &bodyError{http.StatusUnsupportedMediaType, fmt.Sprintf("Content-Encoding: %q is not gzip", enc)}
	}
	return c.decodeStream(r.Context(), r.Body, gz, gz || r.ContentLength < 0 || r.ContentLength > largeBody, v, max)
}

// decodeStream decodes one JSON value from body, gunzipped when gz, into
// v, never reading more than max bytes before or after gunzip. A large body
// waits for a decoding turn first.
func (c *Controller) decodeStream(ctx context.Context, body io.Reader, gz, large bool, v any, max int64) *bodyError {
	if large {
		if err := c.decoding.acquire(ctx); err != nil {
			return &bodyError{http.StatusServiceUnavailable, "busy decoding other large bodies; retry"}
		}
		defer c.decoding.release()
	}
	var in io.Reader = &boundedReader{r: body, left: max}
	if gz {
		zr, err := gzip.NewReader(in)
		if err != nil {
			if errors.Is(err, errTooLarge) {
				return &bodyError{http.StatusRequestEntityTooLarge, fmt.Sprintf("body: more than the %d bytes allowed", max)}
			}
			return &bodyError{http.StatusBadRequest, "body: labelled Content-Encoding: gzip but is not gzip: " + err.Error()}
		}
		defer zr.Close()
		in = &boundedReader{r: zr, left: max}
	}
	dec := json.NewDecoder(in)
	err := dec.Decode(v)
	if err == nil {
		// Nothing but white space may follow the value.
		if _, terr := dec.Token(); !errors.Is(terr, io.EOF) {
			err = fmt.Errorf("body: more after the JSON value")
			if terr != nil && !isJSONSyntax(terr) {
				err = terr
			}
		}
	}
	switch {
	case err == nil:
		return nil
	case errors.Is(err, errTooLarge):
		return &bodyError{http.StatusRequestEntityTooLarge, fmt.Sprintf("body: more than the %d bytes allowed (as decoded)", max)}
	case errors.Is(err, gzip.ErrChecksum), errors.Is(err, gzip.ErrHeader), errors.Is(err, io.ErrUnexpectedEOF) && gz:
		return &bodyError{http.StatusBadRequest, "body: broken gzip stream: " + err.Error()}
	}
	return &bodyError{http.StatusBadRequest, jsonError(err).Error()}
}

func isJSONSyntax(err error) bool {
	var se *json.SyntaxError
	return errors.As(err, &se)
}

// readLimited reads a whole body of at most max bytes; past that it
// answers 413 without reading further.
func readLimited(w http.ResponseWriter, r *http.Request, max int64) ([]byte, *bodyError) {
	if r.ContentLength > max {
		return nil, &bodyError{http.StatusRequestEntityTooLarge, fmt.Sprintf("body: %d bytes, more than the %d allowed", r.ContentLength, max)}
	}
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, max))
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &mbe):
		return nil, &bodyError{http.StatusRequestEntityTooLarge, fmt.Sprintf("body: more than the %d bytes allowed", max)}
	case err != nil:
		return nil, &bodyError{http.StatusBadRequest, "read body: " + err.Error()}
	}
	return b, nil
}
