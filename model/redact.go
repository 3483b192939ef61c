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
		if path {
			// No scheme (hooks.example.com/T000/SECRET): whatever follows
			// the first slash, question mark or at sign may be the secret.
			if i := strings.IndexAny(raw, "/?@#"); i >= 0 {
				return raw[:i+1] + Redacted
			}
		}
		return raw
	}
	if u.User != nil {
		u.User = url.User(Redacted)
	}
	if u.RawQuery != "" {
		u.RawQuery = redactQuery(u.RawQuery)
	}
	if path && u.Path != "" && u.Path != "/" {
		u.Path, u.RawPath = "/"+Redacted, ""
	}
	u.Fragment = ""
	return u.String()
}

// redactQuery hides every value of a query, and every parameter that has
// no value (a key-only parameter, ?SECRET, is itself the secret).
func redactQuery(raw string) string {
	parts := strings.Split(raw, "&")
	for i, p := range parts {
		if k, _, ok := strings.Cut(p, "="); ok && k != "" {
			parts[i] = k + "=" + Redacted
		} else {
			parts[i] = Redacted
		}
	}
	return strings.Join(parts, "&")
}

// RedactURLs redacts every URL in a text (an error message, say): userinfo
// and the query, never the host or path.
func RedactURLs(s string) string {
	if !strings.Contains(s, "://") {
		return s
	}
	return urlInText.ReplaceAllStringFunc(s, func(m string) string { return RedactURL(m, false) })
}

// hostPathInText finds what looks like a URL without its scheme: a host
// name with a dot, then a path.
var hostPathInText = regexp.MustCompile(`\b(?:[a-zA-Z0-9-]+\.)+[a-zA-Z]{2,}(?::\d+)?/[^\s"'<>]*`)

// RedactSecretURLs redacts every URL in a text that may carry one that is
// itself a secret (a webhook's, a dead man's switch's, a configuration
// being read): userinfo, query and path, with or without a scheme.
func RedactSecretURLs(s string) string {
	if strings.Contains(s, "://") {
		s = urlInText.ReplaceAllStringFunc(s, func(m string) string { return RedactURL(m, true) })
	}
	return hostPathInText.ReplaceAllStringFunc(s, func(m string) string {
		if strings.HasSuffix(m, "/"+Redacted) {
			return m
		}
		host, _, _ := strings.Cut(m, "/")
		return host + "/" + Redacted
	})
}

// RedactSecrets replaces every secret of a check (a {secret:…} part of its
// URL) in s.
func RedactSecrets(s string, secrets []string) string {
	for _, sec := range secrets {
		if sec != "" {
			s = strings.ReplaceAll(s, sec, Redacted)
		}
	}
	return s
}

// Cut cuts s to at most n bytes, on a rune boundary.
func Cut(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// Clip is Cut marked with "…" when it cut: what a stranger sent, echoed
// back or logged, stays short.
func Clip(s string, n int) string {
	if c := Cut(s, n); len(c) < len(s) {
		return c + "…"
	}
	return s
}
