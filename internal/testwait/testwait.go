// Package testwait waits in tests for observable state instead of for
// time: a condition is polled until it holds or a limit passes.
package testwait

import (
	"testing"
	"time"
)

// Eventually polls cond until it returns nil, and fails t when limit
// passes first, with what and the last error cond gave (what was not so
// yet). It polls every 50 ms for limits under 5 s, every 200 ms beyond.
func Eventually(t testing.TB, limit time.Duration, what string, cond func() error) {
	t.Helper()
	every := 200 * time.Millisecond
	if limit < 5*time.Second {
		every = 50 * time.Millisecond
	}
	deadline := time.Now().Add(limit)
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %s: %s never happened: %v", limit, what, err)
		}
		time.Sleep(every)
	}
}

// Throughout polls cond for the whole of d and fails t, with what and
// cond's error, the first time it does not hold: what must stay so while
// time passes (a fault in one region never makes a check down).
func Throughout(t testing.TB, d time.Duration, what string, cond func() error) {
	t.Helper()
	every := 200 * time.Millisecond
	if d < 5*time.Second {
		every = 50 * time.Millisecond
	}
	for end := time.Now().Add(d); ; time.Sleep(every) {
		if err := cond(); err != nil {
			t.Fatalf("%s did not hold: %v", what, err)
		}
		if time.Now().After(end) {
			return
		}
	}
}
