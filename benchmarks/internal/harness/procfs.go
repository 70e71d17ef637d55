package harness

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// ProcStatusKiB returns a "Name:   123 kB" (or plain count, e.g. Threads:)
// field of /proc/PID/status; 0 when unavailable (not Linux, process gone).
func ProcStatusKiB(pid int, field string) int64 {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if rest, ok := strings.CutPrefix(line, field); ok {
			fs := strings.Fields(rest)
			if len(fs) == 0 {
				return 0
			}
			n, _ := strconv.ParseInt(fs[0], 10, 64)
			return n
		}
	}
	return 0
}

// OpenFDs counts /proc/PID/fd: a connection or file leak shows here first.
// -1 when unavailable.
func OpenFDs(pid int) int {
	ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		return -1
	}
	return len(ents)
}
