package ingest

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
	// MaxBatchBytes bounds a result batch as decoded (after gzip): a batch
	// of 1,000 results with the longest messages and facts is about 1 MB.
	MaxBatchBytes = 8 << 20
	// MaxWebhookBytes is PagerDuty's own limit for a webhook body.
	MaxWebhookBytes = 2 << 20
	// maxDecoding is how many large bodies are decoded at once; the others
	// wait their turn (or their request's end).
	maxDecoding = 4
	// LargeBody is where a body starts to count as large.
	LargeBody = 64 << 10
)

// BodyError is a body refused, with the status that says why.
type BodyError struct {
	Code int
	Msg  string
}

func (e *BodyError) Error() string { return e.Msg }

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

// Decoder decodes request bodies, bounding how many large ones are
// decoded at once.
type Decoder chan struct{}

// NewDecoder returns a decoder of maxDecoding large bodies at a time.
func NewDecoder() Decoder { return make(Decoder, maxDecoding) }

// acquire waits for a turn, or for ctx to end.
func (d Decoder) acquire(ctx context.Context) error {
	select {
	case d <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (d Decoder) release() { <-d }

// Request decodes a JSON request body into v as a bounded stream:
// application/json only (415 otherwise), gzip when so labelled (400 when it
// is not gzip), at most max bytes decoded (413 past that). Large bodies
// wait for one of a few decoding turns.
func (d Decoder) Request(r *http.Request, v any, max int64) *BodyError {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		if mt, _, err := mime.ParseMediaType(ct); err != nil || mt != "application/json" {
			return &BodyError{Code: http.StatusUnsupportedMediaType, Msg: fmt.Sprintf("Content-Type: %q is not application/json", ct)}
		}
	} else {
		return &BodyError{Code: http.StatusUnsupportedMediaType, Msg: "Content-Type: application/json is required"}
	}
	if r.ContentLength > max {
		return &BodyError{Code: http.StatusRequestEntityTooLarge, Msg: fmt.Sprintf("body: %d bytes, more than the %d allowed", r.ContentLength, max)}
	}
	gz := false
	switch enc := strings.ToLower(strings.TrimSpace(r.Header.Get("Content-Encoding"))); enc {
	case "", "identity":
	case "gzip":
		gz = true
	default:
		return &BodyError{Code: http.StatusUnsupportedMediaType, Msg: fmt.Sprintf("Content-Encoding: %q is not gzip", enc)}
	}
	return d.Stream(r.Context(), r.Body, gz, gz || r.ContentLength < 0 || r.ContentLength > LargeBody, v, max)
}

// Stream decodes one JSON value from body, gunzipped when gz, into
// v, never reading more than max bytes before or after gunzip. A large body
// waits for a decoding turn first.
func (d Decoder) Stream(ctx context.Context, body io.Reader, gz, large bool, v any, max int64) *BodyError {
	if large {
		if err := d.acquire(ctx); err != nil {
			return &BodyError{Code: http.StatusServiceUnavailable, Msg: "busy decoding other large bodies; retry"}
		}
		defer d.release()
	}
	var in io.Reader = &boundedReader{r: body, left: max}
	if gz {
		zr, err := gzip.NewReader(in)
		if err != nil {
			if errors.Is(err, errTooLarge) {
				return &BodyError{Code: http.StatusRequestEntityTooLarge, Msg: fmt.Sprintf("body: more than the %d bytes allowed", max)}
			}
			return &BodyError{Code: http.StatusBadRequest, Msg: "body: labelled Content-Encoding: gzip but is not gzip: " + err.Error()}
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
		return &BodyError{Code: http.StatusRequestEntityTooLarge, Msg: fmt.Sprintf("body: more than the %d bytes allowed (as decoded)", max)}
	case errors.Is(err, gzip.ErrChecksum), errors.Is(err, gzip.ErrHeader), errors.Is(err, io.ErrUnexpectedEOF) && gz:
		return &BodyError{Code: http.StatusBadRequest, Msg: "body: broken gzip stream: " + err.Error()}
	}
	return &BodyError{Code: http.StatusBadRequest, Msg: JSONError(err).Error()}
}

func isJSONSyntax(err error) bool {
	var se *json.SyntaxError
	return errors.As(err, &se)
}

// ReadLimited reads a whole body of at most max bytes; past that it
// answers 413 without reading further.
func ReadLimited(w http.ResponseWriter, r *http.Request, max int64) ([]byte, *BodyError) {
	if r.ContentLength > max {
		return nil, &BodyError{Code: http.StatusRequestEntityTooLarge, Msg: fmt.Sprintf("body: %d bytes, more than the %d allowed", r.ContentLength, max)}
	}
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, max))
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &mbe):
		return nil, &BodyError{Code: http.StatusRequestEntityTooLarge, Msg: fmt.Sprintf("body: more than the %d bytes allowed", max)}
	case err != nil:
		return nil, &BodyError{Code: http.StatusBadRequest, Msg: "read body: " + err.Error()}
	}
	return b, nil
}

// Unmarshal decodes body into v with errors that say where it broke.
func Unmarshal(body []byte, v any) error {
	if err := json.Unmarshal(body, v); err != nil {
		return JSONError(err)
	}
	return nil
}

// JSONError says where a JSON body broke.
func JSONError(err error) error {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		return fmt.Errorf("body is not valid JSON at byte %d: %v", se.Offset, se)
	case errors.As(err, &te):
		return fmt.Errorf("field %s: expected %s, got JSON %s", te.Field, te.Type, te.Value)
	case errors.Is(err, io.EOF):
		return errors.New("body: empty, a JSON value is required")
	}
	return fmt.Errorf("body: %w", err)
}
