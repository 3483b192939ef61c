package cli

import (
	"strings"
	"testing"
)

// A version set at build time is what the binary reports; without one the
// build info stands in.
func TestVersion(t *testing.T) {
	if v := Version(); !strings.HasPrefix(v, "(devel)") && !strings.HasPrefix(v, "v") {
		t.Fatalf("without a build version: %q", v)
	}
	version = "v1.4.0-3-g277301e"
	defer func() { version = "" }()
	if v := Version(); !strings.HasPrefix(v, "v1.4.0-3-g277301e go1.") {
		t.Fatalf("with a build version: %q", v)
	}
}
