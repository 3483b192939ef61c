package check

import (
	"fmt"
	"testing"
	"time"
)

// A check that keeps failing sends the screenshot of its first failure,
// then one every ten minutes; a pass starts over.
func TestScreenshotsAreSentSparingly(t *testing.T) {
	var p shotPolicy
	t0 := time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC)
	var sent []int
	for i := range 25 {
		if i == 15 {
			p.passed()
		}
		if p.take(t0.Add(time.Duration(i) * time.Minute)) {
			sent = append(sent, i)
		}
	}
	if fmt.Sprint(sent) != "[0 10 15]" {
		t.Fatalf("screenshots sent at minutes %v, want [0 10 15]", sent)
	}
}
