package controller

import (
	"testing"

	"go.uber.org/goleak"
)

// Every test leaves no goroutine of the controller's behind: each loop
// has an owner that waits for it.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		// database/sql's connection opener lives as long as its DB, which
		// a test's cleanup closes after the check.
		goleak.IgnoreTopFunction("database/sql.(*DB).connectionOpener"),
		// The tests' own HTTP clients keep idle connections.
		goleak.IgnoreTopFunction("net/http.(*persistConn).readLoop"),
		goleak.IgnoreTopFunction("net/http.(*persistConn).writeLoop"),
	)
}
