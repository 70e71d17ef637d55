// Command scale measures dialua with many tenants: it writes N tenants of M
// small scripts each, starts `dialua serve` on them, serves every script
// once (each request a compile) and then again (each from the cache) with a
// bounded number of client connections, and prints start-up time, the time
// of each pass, the server's RSS after each pass and its live heap (from
// the runtime's gctrace line of the last collection).
//
//	go build -o /tmp/dialua ./cmd/dialua
//	go run ./benchmarks/scale -bin /tmp/dialua -tenants 10000
//
// By default every tenant deploys the same template (what a hosting
// provider's customers mostly do); -distinct makes every file differ by a
// constant, so that nothing could be shared between tenants.
package main

import (
	"bufio"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/dialua/dialua/benchmarks/internal/harness"
)

// script is the 12-line support script each file holds; %s is replaced by
// a per-file constant with -distinct, and by a shared one otherwise.
const script = `local code = request.params.subscription_code or ""
local tiers = { ["934924"] = "gold", ["100200"] = "standard" }
local tier = tiers[code]
local tag = "%s"
if tier then
  response:set_var("tier", tier)
  response:play_tts{"Welcome back, " .. tier .. " customer", voice = "Alice-8KHz"}
  response:jump{context = tier == "gold" and "QueueGold" or "QueueStandard"}
else
  response:play_tts{"We could not find that subscription", voice = "Alice-8KHz"}
  response:hangup()
end
`

func main() {
	bin := flag.String("bin", "", "dialua binary (required)")
	tenants := flag.Int("tenants", 1000, "tenants")
	scripts := flag.Int("scripts", 5, "scripts per tenant")
	clients := flag.Int("clients", 16, "client connections")
	distinct := flag.Bool("distinct", false, "make every file's text differ")
	extra := flag.String("flags", "", "extra flags for dialua serve, space separated")
	dir := flag.String("dir", "", "scripts folder to write (default: a temporary one, removed after)")
	flag.Parse()
	if *bin == "" {
		fmt.Fprintln(os.Stderr, "scale: -bin is required (go build -o /tmp/dialua ./cmd/dialua)")
		os.Exit(2)
	}
	root := *dir
	if root == "" {
		tmp, err := os.MkdirTemp("", "dialua-scale-")
		if err != nil {
			fail(err)
		}
		defer os.RemoveAll(tmp)
		root = tmp
	}
	begin := time.Now()
	if err := write(root, *tenants, *scripts, *distinct); err != nil {
		fail(err)
	}
	fmt.Printf("wrote %d tenants x %d scripts in %v (distinct files: %v)\n", *tenants, *scripts, time.Since(begin).Round(time.Millisecond), *distinct)

	// gctrace makes the runtime print each collection's live heap.
	os.Setenv("GODEBUG", "gctrace=1")
	var args []string
	if *extra != "" {
		args = strings.Fields(*extra)
	}
	start := time.Now()
	srv, err := harness.Start(*bin, root, args, "")
	if err != nil {
		fail(err)
	}
	defer srv.Stop()
	startup := time.Since(start)
	fmt.Printf("start-up (exec to first /healthz answer, 5 ms polling): %v; RSS %.1f MiB\n", startup.Round(time.Millisecond), mib(srv.RSSKiB()))

	urls := make([]string, 0, *tenants**scripts)
	for t := range *tenants {
		for s := range *scripts {
			urls = append(urls, fmt.Sprintf("http://%s/%s/s%d?subscription_code=934924", srv.Addr, tenantName(t), s))
		}
	}
	fmt.Println("| pass | requests | time | requests/s | failures | RSS after | live heap (last GC) |")
	fmt.Println("| --- | --- | --- | --- | --- | --- | --- |")
	for pass := 1; pass <= 2; pass++ {
		took, failed := serveAll(urls, *clients)
		time.Sleep(200 * time.Millisecond) // let a collection in progress finish and print
		fmt.Printf("| %d | %d | %v | %.0f | %d | %.1f MiB | %s |\n", pass, len(urls), took.Round(time.Millisecond),
			float64(len(urls))/took.Seconds(), failed, mib(srv.RSSKiB()), liveHeap(srv.Log.Tail()))
		if !srv.Alive() {
			fail(fmt.Errorf("server died: %v\n%s", srv.Err, srv.Log.Tail()))
		}
	}
}

func tenantName(i int) string { return fmt.Sprintf("t%05d", i) }

func write(root string, tenants, scripts int, distinct bool) error {
	for t := range tenants {
		d := filepath.Join(root, tenantName(t))
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
		for s := range scripts {
			tag := "template-v1"
			if distinct {
				tag = fmt.Sprintf("%s-s%d", tenantName(t), s)
			}
			if err := os.WriteFile(filepath.Join(d, fmt.Sprintf("s%d.lua", s)), []byte(fmt.Sprintf(script, tag)), 0o644); err != nil {
				return err
			}
		}
	}
	return nil
}

// serveAll requests every URL once from n clients and counts answers that
// are not a 200 with the expected verbs.
func serveAll(urls []string, n int) (time.Duration, int64) {
	var next, failed atomic.Int64
	var wg sync.WaitGroup
	client := &fasthttp.Client{MaxConnsPerHost: n, ReadTimeout: 10 * time.Second, WriteTimeout: 10 * time.Second}
	begin := time.Now()
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= len(urls) {
					return
				}
				status, body, err := client.GetTimeout(nil, urls[i], 10*time.Second)
				if err != nil || status != 200 || !strings.Contains(string(body), `<SetVar name="tier">gold</SetVar>`) {
					failed.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	return time.Since(begin), failed.Load()
}

var gcLine = regexp.MustCompile(`gc \d+ @[0-9.]+s [0-9]+%: .* (\d+)->(\d+)->(\d+) MB, (\d+) MB goal`)

// liveHeap is the heap left after the last collection the trace shows.
func liveHeap(log string) string {
	last := ""
	sc := bufio.NewScanner(strings.NewReader(log))
	for sc.Scan() {
		if m := gcLine.FindStringSubmatch(sc.Text()); m != nil {
			last = m[3]
		}
	}
	if last == "" {
		return "no collection yet"
	}
	n, _ := strconv.Atoi(last)
	return fmt.Sprintf("%d MB", n)
}

func mib(kib int64) float64 { return float64(kib) / 1024 }

func fail(err error) {
	fmt.Fprintln(os.Stderr, "scale:", err)
	os.Exit(1)
}
