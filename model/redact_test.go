package model

import (
	"strings"
	"testing"
)

func TestRedactURLsHidesCredentials(t *testing.T) {
	msg := `Get "https://bob:s3cret@api.example.com/v1/items?api_key=K3Y-123&page=2": dial tcp 10.0.0.1:443: connect: connection refused`
	got := RedactURLs(msg)
	for _, secret := range []string{"s3cret", "K3Y-123", "bob"} {
		if strings.Contains(got, secret) {
			t.Fatalf("%q left in %q", secret, got)
		}
	}
	if !strings.Contains(got, "api.example.com/v1/items") || !strings.Contains(got, "connection refused") {
		t.Fatalf("too much hidden: %q", got)
	}
	if got := RedactURL("https://hooks.slack.com/services/T000/B000/XXXXSECRET", true); strings.Contains(got, "XXXXSECRET") || !strings.Contains(got, "hooks.slack.com") {
		t.Fatalf("slack URL: %q", got)
	}
	if got := RedactURLs("no url here"); got != "no url here" {
		t.Fatal(got)
	}
}

// Redaction by rule: every query value and key-only parameter; with the
// path for URLs that are secrets themselves, with or without a scheme,
// in a URL alone or in a text.
func TestHostileRedactionRules(t *testing.T) {
	for in, want := range map[string]string{
		"https://api.example.com/v1?SECRET":               "https://api.example.com/v1?" + Redacted,
		"https://api.example.com/v1?a=1&TOKEN&b=":         "https://api.example.com/v1?a=" + Redacted + "&" + Redacted + "&b=" + Redacted,
		"https://user:pw@api.example.com/v1?key=abc#frag": "https://" + Redacted + "@api.example.com/v1?key=" + Redacted,
	} {
		if got := RedactURL(in, false); got != want {
			t.Errorf("RedactURL(%q) = %q, want %q", in, got, want)
		}
	}
	for in, want := range map[string]string{
		"https://hooks.slack.com/services/T000/B000/XXXXSECRET": "https://hooks.slack.com/" + Redacted,
		"hooks.slack.com/services/T000/B000/XXXXSECRET":         "hooks.slack.com/" + Redacted,
	} {
		if got := RedactURL(in, true); got != want {
			t.Errorf("RedactURL(%q, path) = %q, want %q", in, got, want)
		}
	}
	text := `reload: alerting.notifiers[0].url: "hooks.slack.com/services/T000/B000/XXXXSECRET" is not an http(s) URL; ` +
		`GET https://hc-ping.example.com/0c3e7f2a-SECRET-UUID?x=1: connection refused`
	got := RedactSecretURLs(text)
	if strings.Contains(got, "SECRET") || !strings.Contains(got, "hooks.slack.com/") || !strings.Contains(got, "https://hc-ping.example.com/") {
		t.Errorf("RedactSecretURLs:\n%s", got)
	}
}
