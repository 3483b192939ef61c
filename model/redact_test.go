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
