package controller

import (
	"fmt"
	"net/http"

	gojson "github.com/goccy/go-json"
	"github.com/labstack/echo/v4"
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
