package controller

import (
	"bytes"
	"fmt"
	"net/http"

	gojson "github.com/goccy/go-json"
	"github.com/labstack/echo/v4"

	"github.com/nines-sre/nines/controller/ingest"
)

// jsonSerializer encodes API answers with goccy/go-json, which writes the
// status document of thousands of checks several times faster than
// encoding/json; decoding stays with the standard library's error messages.
type jsonSerializer struct{ echo.DefaultJSONSerializer }

func (jsonSerializer) Serialize(c echo.Context, i any, indent string) error {
	enc := gojson.NewEncoder(c.Response())
	if indent != "" {
		enc.SetIndent("", indent)
	}
	if err := enc.Encode(i); err != nil {
		return echo.NewHTTPError(http.StatusInternalServerError, fmt.Sprintf("encode answer: %v", err))
	}
	return nil
}

// maxSmallBody bounds the small JSON bodies (heartbeats, acknowledgements).
const maxSmallBody = 1 << 20

// decodeJSON reads one JSON value, of at most maxSmallBody bytes, from the
// request body and names where it broke.
func decodeJSON(ec echo.Context, v any) *ingest.BodyError { return decodeSmall(ec, v, false) }

// decodeSmall is decodeJSON; with optional, an empty body leaves v as it
// is.
func decodeSmall(ec echo.Context, v any, optional bool) *ingest.BodyError {
	body, be := ingest.ReadLimited(ec.Response(), ec.Request(), maxSmallBody)
	if be != nil {
		return be
	}
	if optional && len(bytes.TrimSpace(body)) == 0 {
		return nil
	}
	if err := ingest.Unmarshal(body, v); err != nil {
		return &ingest.BodyError{Code: http.StatusBadRequest, Msg: err.Error()}
	}
	return nil
}
