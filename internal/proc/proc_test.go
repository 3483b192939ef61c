package proc

import (
	"os"
	"os/exec"
	"slices"
	"testing"
)

// This process has used some CPU and holds some memory, its peak at least
// what it holds now.
func TestSelf(t *testing.T) {
	pid := os.Getpid()
	ballast := make([]byte, 32<<20)
	for i := range ballast {
		ballast[i] = byte(i)
	}
	cpu, err := CPUSeconds(pid)
	if err != nil || cpu <= 0 {
		t.Fatalf("CPU %v %v", cpu, err)
	}
	rss, err := RSS(pid)
	if err != nil || rss < 32<<20 {
		t.Fatalf("RSS %d %v, want 32 MiB or more", rss, err)
	}
	peak, err := PeakRSS(pid)
	if err != nil || peak < rss {
		t.Fatalf("peak %d %v, RSS %d", peak, err, rss)
	}
	if _, err := PeakRSS(-1); err == nil {
		t.Fatal("no such process: want an error")
	}
	_ = ballast[len(ballast)-1]
}

func TestTreeHoldsChildren(t *testing.T) {
	cmd := exec.Command("sleep", "30")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	tree := Tree(os.Getpid())
	if len(tree) < 2 || tree[0] != os.Getpid() || !slices.Contains(tree, cmd.Process.Pid) {
		t.Fatalf("tree %v misses the child %d", tree, cmd.Process.Pid)
	}
	self, err := PSS(os.Getpid())
	if err != nil || self <= 0 {
		t.Fatalf("PSS %d, %v", self, err)
	}
	if sum := TreeMemory(os.Getpid()); sum <= self {
		t.Fatalf("tree memory %d, own %d: the child's is missing", sum, self)
	}
}
