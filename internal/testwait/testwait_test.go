package testwait

import (
	"errors"
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"
)

// recorder stands in for the test a helper fails: Fatalf ends the
// goroutine that called it, as testing's does.
type recorder struct {
	testing.TB
	failed string
}

func (r *recorder) Helper() {}

func (r *recorder) Fatalf(format string, args ...any) {
	r.failed = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

// run calls f with a recorder on a goroutine of its own and says how it
// failed ("" when it did not).
func run(f func(tb testing.TB)) string {
	r := &recorder{}
	done := make(chan struct{})
	go func() { defer close(done); f(r) }()
	<-done
	return r.failed
}

func TestEventually(t *testing.T) {
	calls := 0
	if failed := run(func(tb testing.TB) {
		Eventually(tb, time.Second, "the third call", func() error {
			if calls++; calls < 3 {
				return errors.New("not yet")
			}
			return nil
		})
	}); failed != "" || calls != 3 {
		t.Fatalf("failed %q after %d calls", failed, calls)
	}
	began := time.Now()
	failed := run(func(tb testing.TB) {
		Eventually(tb, 200*time.Millisecond, "never", func() error { return errors.New("still 3 of 7") })
	})
	if !strings.Contains(failed, "after 200ms: never never happened: still 3 of 7") || time.Since(began) < 200*time.Millisecond {
		t.Fatalf("failed %q after %s", failed, time.Since(began))
	}
}

func TestThroughout(t *testing.T) {
	calls := 0
	if failed := run(func(tb testing.TB) {
		Throughout(tb, 200*time.Millisecond, "holding", func() error { calls++; return nil })
	}); failed != "" || calls < 3 {
		t.Fatalf("failed %q after %d calls", failed, calls)
	}
	calls = 0
	failed := run(func(tb testing.TB) {
		Throughout(tb, time.Minute, "quiet", func() error {
			if calls++; calls == 2 {
				return errors.New("a page")
			}
			return nil
		})
	})
	if failed != "quiet did not hold: a page" || calls != 2 {
		t.Fatalf("failed %q after %d calls", failed, calls)
	}
}
