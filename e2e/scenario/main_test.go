// Package scenario runs `nines demo` as a user would and stages each of its
// scenarios, holding what it pages, what the public sees and what every
// surface says to the scenario's description.
package scenario

import (
	"os"
	"testing"

	"github.com/nines-sre/nines/e2e/internal/harness"
)

func TestMain(m *testing.M) { os.Exit(harness.Main(m)) }
