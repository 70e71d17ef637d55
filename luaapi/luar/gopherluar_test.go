package luar

// Evidence: what plain layeh.com/gopher-luar v1.0.11 lets a script do.
// Each test passes because the unsafe thing happens.

import (
	"os"
	"os/exec"
	"runtime/debug"
	"strings"
	"testing"
	"time"

	gluar "layeh.com/gopher-luar"
)

func plain(t *testing.T) (*vm, *CRM) {
	v := newVM(t)
	crm := newCRM()
	v.globals.RawSetString("crm", gluar.New(v.L, crm))
	return v, crm
}

func TestGopherLuarWritesSharedMemory(t *testing.T) {
	v, crm := plain(t)
	alice := crm.Contacts[0]
	v.mustExec(t, `
		local c = crm.Contacts[1]
		c.Name = "Mallory"              -- structPtrNewIndex
		c.Addr.City = "X"               -- nested struct field comes back as *Address
		c.Boss.Name = "X"               -- nested pointer
		c.Meta.tier = "free"            -- mapNewIndex
		c.Tags[1] = "X"                 -- sliceNewIndex
		crm.Counts[1] = 9               -- array field comes back as *[3]int
		crm.Values[1].Name = "X"        -- element of a []Contact comes back as *Contact
		crm.Index["new"] = c            -- new map entry
		local grown = crm.Contacts + c  -- sliceAdd: reflect.Append into spare capacity
	`)
	if alice.Name != "Mallory" || alice.Addr.City != "X" || alice.Boss.Name != "X" || alice.Meta["tier"] != "free" ||
		alice.Tags[0] != "X" || crm.Counts[0] != 9 || crm.Values[0].Name != "X" || crm.Index["new"] != alice {
		t.Fatalf("expected every write to land: %+v", alice)
	}
	if crm.Contacts[:2][1] != alice {
		t.Fatal("expected slice + x to write the shared backing array past len")
	}
}

func TestGopherLuarPtrPowOverwritesWholeValue(t *testing.T) {
	v, crm := plain(t)
	alice := crm.Contacts[0]
	v.mustExec(t, `local c = crm.Contacts[1]; c = c ^ {Name = "Z"}`)
	// *alice = Contact{Name: "Z"}: every field, unexported ones included, reset.
	if alice.Name != "Z" || alice.secret != "" || alice.Phone != "" {
		t.Fatalf("expected ptr ^ table to replace the pointee: %+v", alice)
	}
}

func TestGopherLuarReceiverForgery(t *testing.T) {
	v, _ := plain(t)
	// A method runs on a receiver the script built from a table.
	out := v.mustExec(t, `return crm.Name({Index = {["1"] = {Name = "forged"}}}, "1")`)
	if out[0].String() != "forged" {
		t.Fatalf("got %v", out)
	}
}

func TestGopherLuarChannels(t *testing.T) {
	v, crm := plain(t)
	// Receive blocks in Go, deaf to the run's 50ms deadline, until Go sends.
	go func() { time.Sleep(300 * time.Millisecond); crm.Events <- "late" }()
	start := time.Now()
	_, _ = v.exec("acme", "c", `local x = crm.Events()`, 50*time.Millisecond)
	if d := time.Since(start); d < 250*time.Millisecond {
		t.Fatalf("expected the receive to outlive the deadline, took %v", d)
	}
	// -ch closes the Go program's channel; its next send panics.
	v.mustExec(t, `local _ = -crm.Events`)
	defer func() {
		if r := recover(); r == nil || !strings.Contains(r.(error).Error(), "send on closed channel") {
			t.Fatalf("expected a panic in Go, got %v", r)
		}
	}()
	crm.Events <- "x"
}

func TestGopherLuarPanicHasNoLine(t *testing.T) {
	v, _ := plain(t)
	msg := v.mustFail(t, "local x = 1\nlocal y = crm:Boom(5)", "index out of range")
	if strings.Contains(msg, "crm.lua:2") {
		t.Fatalf("unexpectedly named the line: %q", msg)
	}
	t.Logf("gopher-luar panic message: %q", msg)
}

func TestGopherLuarHidesUnexported(t *testing.T) {
	v, _ := plain(t)
	v.mustExec(t, `
		local c = crm.Contacts[1]
		assert(c.secret == nil and c.whisper == nil and crm.token == nil and crm.rotate == nil)
		assert(c.Hidden == nil and c.label == "r")
		assert(getmetatable(c) == "gopher-luar")
	`)
}

func TestGopherLuarNoContext(t *testing.T) {
	v, _ := plain(t)
	v.mustFail(t, `crm:WhoAmI()`, "invalid number of function arguments (2 expected, got 1)")
}

// A Lua function passed to Go outlives its run: Go can call it later, and
// it still sees the first run's globals.
func TestGopherLuarCallbackOutlivesRun(t *testing.T) {
	v, crm := plain(t)
	v.mustExec(t, `tenant_secret = "run1"; crm:Each(function(n) return tenant_secret end)`)
	if got := crm.stored("x"); got != "run1" {
		t.Fatalf("got %q", got)
	}
}

// A deeply nested table makes gopher-luar's conversion recurse once per
// level: a Go stack overflow, which kills the process (fatal error, not a
// panic). Run in a child process with a small max stack to show it fast.
func TestGopherLuarDeepTableKillsProcess(t *testing.T) {
	if os.Getenv("LUAR_DEEP_CHILD") == "1" {
		debug.SetMaxStack(16 << 20)
		v, _ := plain(t)
		_, _ = v.exec("acme", "c", `local t = {} for i = 1, 200000 do t = {t} end crm:Count({x = t})`, 10*time.Second)
		os.Exit(0)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestGopherLuarDeepTableKillsProcess$")
	cmd.Env = append(os.Environ(), "LUAR_DEEP_CHILD=1")
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "stack overflow") {
		t.Fatalf("expected the child to die of a stack overflow: %v\n%.300s", err, out)
	}
}
