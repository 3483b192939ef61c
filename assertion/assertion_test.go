package assertion

import (
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestParseErrorsPointAtTheColumn(t *testing.T) {
	for _, tc := range []struct{ src, want string }{
		{"", "column 1: expected a subject"},
		{"stauts == 200", `column 1: unknown subject "stauts"`},
		{"status = 200", "column 8: expected an operator"},
		{"status ==", "column 10: expected a value after =="},
		{"latency < fast", "column 11: expected a number, a duration"},
		{"latency < 300", "column 11: latency compares with a duration"},
		{"header.content-type contains json", "column 30: expected a number"},
		{"status == 200 and more", `column 15: unexpected "and more"`},
		{`body matches "("`, "column 14: bad regular expression"},
		{"header == 1", "column 1: use header.NAME"},
		{"cert.expiry > 14d", "column 1: use cert.expires_in"},
		{`body contains 5`, "column 15: contains needs a quoted string"},
		{`status < "x"`, "column 10: < needs a number or a duration"},
		{`body == "unterminated`, "column 9: unterminated or malformed string"},
	} {
		_, err := Parse(tc.src)
		var se *SyntaxError
		if !errors.As(err, &se) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Parse(%q) = %v, want %q", tc.src, err, tc.want)
		}
	}
}

func TestEvalSaysWhatFailedAndWhatWasSeen(t *testing.T) {
	now := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	subj := func() *Subject {
		return &Subject{
			Status:     503,
			Latency:    420 * time.Millisecond,
			Size:       64,
			Body:       []byte(`{"items":[1,2,3],"status":"ok","nested":{"n":7,"flag":true},"name":"nines"}`),
			Header:     http.Header{"Content-Type": {"application/json; charset=utf-8"}},
			CertExpiry: now.Add(10 * 24 * time.Hour),
			Now:        now,
		}
	}
	for _, tc := range []struct {
		src  string
		fail string // empty: holds
	}{
		{"status == 503", ""},
		{"status == 200", "status == 200: saw 503"},
		{"status >= 500", ""},
		{"latency < 300ms", "latency < 300ms: saw 420ms"},
		{"latency <= 1s", ""},
		{"size > 10", ""},
		{`header.content-type contains "json"`, ""},
		{`header.Content-Type contains "xml"`, `saw "application/json; charset=utf-8"`},
		{`header.x-missing == ""`, ""},
		{"body.json.items.len > 0", ""},
		{"body.json.items.len == 5", "body.json.items.len == 5: saw 3"},
		{"body.json.items.1 == 2", ""},
		{"body.json.items.9 == 2", "index \"9\" out of range (3 items)"},
		{`body.json.status == "ok"`, ""},
		{`body.json.name.len == 5`, ""},
		{"body.json.nested.n > 5", ""},
		{"body.json.nested.flag == true", ""},
		{"body.json.nested.len == 2", ""},
		{"body.json.missing == 1", `body.json has no "missing"`},
		{`body contains "nines"`, ""},
		{`body !contains "error"`, ""},
		{`body matches "\"status\":\\s*\"ok\""`, ""},
		{"cert.expires_in > 14d", "cert.expires_in > 14d: saw 240h0m0s"},
		{"cert.expires_in > 7d", ""},
	} {
		a, err := Parse(tc.src)
		if err != nil {
			t.Fatalf("%s: %v", tc.src, err)
		}
		err = a.Eval(subj())
		switch {
		case tc.fail == "" && err != nil:
			t.Errorf("%s: unexpected failure %v", tc.src, err)
		case tc.fail != "" && (err == nil || !strings.Contains(err.Error(), tc.fail)):
			t.Errorf("%s: got %v, want failure containing %q", tc.src, err, tc.fail)
		}
	}
}

func TestEvalOnNonJSONBody(t *testing.T) {
	a, err := Parse("body.json.ok == true")
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Eval(&Subject{Body: []byte("<html>")}); err == nil || !strings.Contains(err.Error(), "body is not JSON") {
		t.Fatalf("got %v", err)
	}
	c, _ := Parse("cert.expires_in > 1d")
	if err := c.Eval(&Subject{}); err == nil || !strings.Contains(err.Error(), "no certificate") {
		t.Fatalf("got %v", err)
	}
}

// FuzzParseAssertion: the parser never panics, and whatever it accepts it can
// evaluate against any response without panicking.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"status == 200", "latency < 300ms", "body.json.items.len > 0", `header.content-type contains "json"`,
		"cert.expires_in > 14d", `body matches "^ok$"`, "size >= 1.5", "body.json.a.0.b != false", `body == "\u00e9"`,
		"status==200", "latency<1.5s", "body.json.", "header.", "", "\"", "status == -1",
	} {
		f.Add(s, []byte(`{"items":[1,{"a":"b"}],"x":null}`))
	}
	f.Fuzz(func(t *testing.T, src string, body []byte) {
		a, err := Parse(src)
		if err != nil {
			var se *SyntaxError
			if !errors.As(err, &se) || se.Col < 1 || se.Col > len(src)+1 {
				t.Fatalf("%q: error %v does not point inside the text", src, err)
			}
			return
		}
		_ = a.Eval(&Subject{Status: 200, Body: body, Header: http.Header{}, Now: time.Unix(0, 0), CertExpiry: time.Unix(86400, 0)})
	})
}
