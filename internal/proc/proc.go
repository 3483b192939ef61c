// Package proc reads what Linux says of a process in /proc: its CPU time
// and resident memory, for the benchmarks and the tests that hold the
// binaries to their budgets.
package proc

import (
	"fmt"
	"os"
	"strconv"
	"strings"
)

// CPUSeconds is the user and system CPU time pid has used.
func CPUSeconds(pid int) (float64, error) {
	fields, err := stat(pid, 13)
	if err != nil {
		return 0, err
	}
	ut, _ := strconv.ParseFloat(fields[11], 64)
	st, _ := strconv.ParseFloat(fields[12], 64)
	return (ut + st) / 100, nil // USER_HZ is 100 on Linux
}

// PeakRSS is pid's peak resident set (VmHWM), in bytes.
func PeakRSS(pid int) (int64, error) { return status(pid, "VmHWM:") }

// RSS is pid's resident set now (VmRSS), in bytes.
func RSS(pid int) (int64, error) { return status(pid, "VmRSS:") }

// Resident splits pid's resident set now into anonymous memory (heap,
// stacks, C allocations) and file pages (chiefly the binary's own code and
// read-only data, shared and reclaimable), in bytes.
func Resident(pid int) (anon, file int64, err error) {
	if anon, err = status(pid, "RssAnon:"); err != nil {
		return 0, 0, err
	}
	file, err = status(pid, "RssFile:")
	return anon, file, err
}

func status(pid int, field string) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, field); ok {
			f := strings.Fields(rest)
			if len(f) == 0 {
				break
			}
			kb, err := strconv.ParseInt(f[0], 10, 64)
			return kb << 10, err
		}
	}
	return 0, fmt.Errorf("no %s in /proc/%d/status", field, pid)
}

// Tree returns pid and every process descended from it (a browser and its
// renderers, say).
func Tree(pid int) []int {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return []int{pid}
	}
	children := map[int][]int{}
	for _, e := range entries {
		child, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if parent, err := ppid(child); err == nil {
			children[parent] = append(children[parent], child)
		}
	}
	out := []int{pid}
	for i := 0; i < len(out); i++ {
		out = append(out, children[out[i]]...)
	}
	return out
}

func ppid(pid int) (int, error) {
	fields, err := stat(pid, 2)
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(fields[1])
}

// stat returns the fields of /proc/pid/stat after the command's name (the
// state first), at least n of them.
func stat(pid, n int) ([]string, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return nil, err
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 || i+2 > len(s) {
		return nil, fmt.Errorf("/proc/%d/stat: unexpected format", pid)
	}
	fields := strings.Fields(s[i+2:])
	if len(fields) < n {
		return nil, fmt.Errorf("/proc/%d/stat: %d fields", pid, len(fields))
	}
	return fields, nil
}

// PSS is pid's proportional set size now, in bytes: its resident memory
// with each page it shares divided among the processes sharing it.
func PSS(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/smaps_rollup", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "Pss:"); ok {
			f := strings.Fields(rest)
			if len(f) == 0 {
				break
			}
			kb, err := strconv.ParseInt(f[0], 10, 64)
			return kb << 10, err
		}
	}
	return 0, fmt.Errorf("no Pss in /proc/%d/smaps_rollup", pid)
}

// TreeMemory is the memory pid and its descendants hold now, in bytes:
// the sum of their proportional set sizes, so that the pages a browser's
// processes share count once.
func TreeMemory(pid int) int64 {
	var sum int64
	for _, p := range Tree(pid) {
		if n, err := PSS(p); err == nil {
			sum += n
		}
	}
	return sum
}

// TreeCPUSeconds is the CPU time pid and its living descendants have used.
func TreeCPUSeconds(pid int) float64 {
	var sum float64
	for _, p := range Tree(pid) {
		if s, err := CPUSeconds(p); err == nil {
			sum += s
		}
	}
	return sum
}
