// Package netns runs controllers and probes in network namespaces of its
// own, to cut a region's network or the controller's as a real outage
// would (as root; skipped otherwise).
package netns

import (
	"os"
	"testing"

	"github.com/nines-sre/nines/e2e/internal/harness"
)

func TestMain(m *testing.M) { os.Exit(harness.Main(m)) }
