package main

import (
	"flag"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// Typed flag values that refuse nonsense when they are set, from the
// command line, a DIALUA_* variable or the config file alike (config.go
// sets all three through flag.FlagSet.Set): a refused value is a usage
// error naming the flag and what it takes, never a silent default.

// checker is a flag.Value that can check a value without taking it, so
// that config.go also refuses bad values a flag overrides.
type checker interface{ check(string) error }

// sizeFlag is a byte count: plain bytes or a number with a binary unit
// (B, KiB, MiB, GiB, TiB; 1.5GiB is allowed). off, when allowed, is stored
// as -1 (negative values are read as off too).
type sizeFlag struct {
	p    *int64
	min  int64 // smallest value taken (other than off)
	off  bool  // "off" (or a negative number) turns the setting off
	zero string
}

var sizeUnits = []struct {
	name string
	n    int64
}{{"TiB", 1 << 40}, {"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}, {"B", 1}}

// sizeVar defines a size flag; min is the smallest value (>= 1), zero, if
// not "", what 0 means (then 0 is allowed), off whether off is allowed.
func sizeVar(fs *flag.FlagSet, name string, def, min int64, off bool, zero, usage string) *int64 {
	p := new(int64)
	*p = def
	fs.Var(&sizeFlag{p: p, min: min, off: off, zero: zero}, name, usage)
	return p
}

func (s *sizeFlag) allowed() string {
	w := "a size of at least " + formatSize(s.min) + " (bytes, or with a unit: 64KiB, 512MiB, 4GiB)"
	if s.zero != "" {
		w += ", or 0 (" + s.zero + ")"
	}
	if s.off {
		w += ", or off"
	}
	return w
}

func (s *sizeFlag) parse(v string) (int64, error) {
	t := strings.TrimSpace(v)
	if s.off && strings.EqualFold(t, "off") {
		return -1, nil
	}
	num, mul := t, int64(1)
	for _, u := range sizeUnits {
		if len(t) > len(u.name) && strings.EqualFold(t[len(t)-len(u.name):], u.name) {
			num, mul = strings.TrimSpace(t[:len(t)-len(u.name)]), u.n
			break
		}
	}
	var n int64
	if i, err := strconv.ParseInt(num, 10, 64); err == nil && (mul == 1 || (i <= math.MaxInt64/mul && i >= math.MinInt64/mul)) {
		n = i * mul
	} else if f, ferr := strconv.ParseFloat(num, 64); ferr == nil && mul > 1 && !math.IsNaN(f) && math.Abs(f*float64(mul)) < 1<<62 {
		n = int64(math.Round(f * float64(mul)))
	} else {
		return 0, fmt.Errorf("%q is not %s", v, s.allowed())
	}
	switch {
	case n < 0 && s.off:
		return -1, nil
	case n == 0 && s.zero != "":
		return 0, nil
	case n < s.min || n > 1<<50:
		return 0, fmt.Errorf("%q is not %s", v, s.allowed())
	}
	return n, nil
}

func (s *sizeFlag) Set(v string) error {
	n, err := s.parse(v)
	if err == nil {
		*s.p = n
	}
	return err
}

func (s *sizeFlag) check(v string) error { _, err := s.parse(v); return err }

func (s *sizeFlag) String() string {
	if s == nil || s.p == nil {
		return ""
	}
	if *s.p < 0 && s.off {
		return "off"
	}
	return formatSize(*s.p)
}

// formatSize writes n in the largest unit that divides it: 64KiB, 4GiB.
func formatSize(n int64) string {
	for _, u := range sizeUnits[:4] {
		if n != 0 && n%u.n == 0 {
			return strconv.FormatInt(n/u.n, 10) + u.name
		}
	}
	return strconv.FormatInt(n, 10)
}

// intFlag is a whole number of at least min; zero, if not "", is what 0
// means (then 0 is allowed even if min is above it).
type intFlag struct {
	p    *int
	min  int
	zero string
}

func intVar(fs *flag.FlagSet, name string, def, min int, zero, usage string) *int {
	p := new(int)
	*p = def
	fs.Var(&intFlag{p: p, min: min, zero: zero}, name, usage)
	return p
}

func (f *intFlag) parse(v string) (int, error) {
	n, err := strconv.Atoi(strings.TrimSpace(v))
	if err == nil && (n >= f.min || n == 0 && f.zero != "") {
		return n, nil
	}
	w := fmt.Sprintf("a whole number of at least %d", f.min)
	if f.zero != "" {
		w += ", or 0 (" + f.zero + ")"
	}
	return 0, fmt.Errorf("%q is not %s", v, w)
}

func (f *intFlag) Set(v string) error {
	n, err := f.parse(v)
	if err == nil {
		*f.p = n
	}
	return err
}

func (f *intFlag) check(v string) error { _, err := f.parse(v); return err }

func (f *intFlag) String() string {
	if f == nil || f.p == nil {
		return ""
	}
	return strconv.Itoa(*f.p)
}

// durationFlag is a Go duration over 0, or 0 too when zero says what it
// means.
type durationFlag struct {
	p    *time.Duration
	zero string
}

func durationVar(fs *flag.FlagSet, name string, def time.Duration, zero, usage string) *time.Duration {
	p := new(time.Duration)
	*p = def
	fs.Var(&durationFlag{p: p, zero: zero}, name, usage)
	return p
}

func (f *durationFlag) parse(v string) (time.Duration, error) {
	d, err := time.ParseDuration(strings.TrimSpace(v))
	if err == nil && (d > 0 || d == 0 && f.zero != "") {
		return d, nil
	}
	w := "a duration over 0 (like 500ms, 2s, 1m)"
	if f.zero != "" {
		w = "a duration (like 500ms, 2s, 1m), 0 meaning " + f.zero
	}
	return 0, fmt.Errorf("%q is not %s", v, w)
}

func (f *durationFlag) Set(v string) error {
	d, err := f.parse(v)
	if err == nil {
		*f.p = d
	}
	return err
}

func (f *durationFlag) check(v string) error { _, err := f.parse(v); return err }

func (f *durationFlag) String() string {
	if f == nil || f.p == nil {
		return ""
	}
	return f.p.String()
}
