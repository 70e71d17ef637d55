package testkit

import "time"

// Within polls cond every 10ms until it holds or d has passed, and reports
// how long that took and whether it held.
func Within(d time.Duration, cond func() bool) (time.Duration, bool) {
	start := time.Now()
	for time.Since(start) < d {
		if cond() {
			return time.Since(start), true
		}
		time.Sleep(10 * time.Millisecond)
	}
	return time.Since(start), cond()
}
