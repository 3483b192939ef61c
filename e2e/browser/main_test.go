// Package browser drives headless Chromium through the status page and
// the SRE view of the real binary (skipped without Chromium).
package browser

import (
	"os"
	"testing"

	"github.com/nines-sre/nines/e2e/internal/harness"
)

func TestMain(m *testing.M) { os.Exit(harness.Main(m)) }
