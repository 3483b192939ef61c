package alerting

import (
	"testing"
	"time"
)

// The wait after each failed attempt doubles from MinBackoff up to
// MaxBackoff, spread by ±20 %, and stays at the cap however many
// attempts failed.
func TestDispatchBackoffDoublesWithJitter(t *testing.T) {
	d := &Dispatcher{MinBackoff: time.Second, MaxBackoff: time.Minute}
	within := func(got, want time.Duration) bool {
		return got >= want*8/10 && got <= want*12/10
	}
	spread := map[time.Duration]bool{}
	for range 50 {
		for attempts, want := range map[int]time.Duration{1: time.Second, 2: 2 * time.Second, 4: 8 * time.Second, 7: time.Minute, 500: time.Minute} {
			got := d.backoff(attempts)
			if !within(got, want) {
				t.Fatalf("attempt %d: waits %s, want %s ± 20 %%", attempts, got, want)
			}
			if attempts == 4 {
				spread[got] = true
			}
		}
	}
	if len(spread) < 10 {
		t.Fatalf("50 waits after the fourth attempt took %d values: no jitter", len(spread))
	}
}
