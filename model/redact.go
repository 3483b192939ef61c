package model

import (
	"net/url"
	"regexp"
	"strings"
	"unicode/utf8"
)

// Redacted is what stands in place of a secret.
const Redacted = "REDACTED"

var urlInText = regexp.MustCompile(`[a-zA-Z][a-zA-Z0-9+.-]*://[^\s"'<>]+`)

// RedactURL hides what in a URL may be a credential: its userinfo and the
// values of its query; with path true also its path (a Slack or webhook URL
// is itself the secret). Text that does not parse as a URL is returned
// with everything after the host hidden.
func RedactURL(raw string, path bool) string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		if i := strings.Index(raw, "://"); i >= 0 && strings.ContainsAny(raw[i+3:], "/?#@") {
			return raw[:i+3] + Redacted
		}
		return raw
	}
	if u.User != nil {
		u.User = url.User(Redacted)
	}
	if u.RawQuery != "" {
		q := u.Query()
		for k := range q {
			q[k] = []string{Redacted}
		}
		u.RawQuery = q.Encode()
	}
	if path && u.Path != "" && u.Path != "/" {
		u.Path, u.RawPath = "/"+Redacted, ""
	}
	u.Fragment = ""
	return u.String()
}

// RedactURLs redacts every URL in a text (an error message, say): userinfo
// and query values, never the host or path.
func RedactURLs(s string) string {
	if !strings.Contains(s, "://") {
		return s
	}
	return urlInText.ReplaceAllStringFunc(s, func(m string) string { return RedactURL(m, false) })
}

// Clip cuts s to at most n bytes, on a rune boundary, marked with "…"
// when cut: what a stranger sent, echoed back or logged, stays short.
func Clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}
