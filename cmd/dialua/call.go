package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"

	"github.com/dialua/dialua/runtime/engine"
	"github.com/dialua/dialua/runtime/ivr"
	"github.com/dialua/dialua/runtime/server"
)

// callCmd walks one simulated call through an IVR file.
func callCmd(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("call", flag.ContinueOnError)
	fs.SetOutput(stderr)
	ivrFile := fs.String("ivr", "", "IVR definition file (required)")
	base, scripts := serverFlags(fs)
	var caller ivr.Caller
	fs.StringVar(&caller.Digits, "digits", "", "keys the caller presses, in order (0-9 * #; _ is a silence)")
	fs.StringVar(&caller.Number, "caller", "", "caller-ID number")
	fs.StringVar(&caller.Name, "caller-name", "", "caller-ID name")
	fs.StringVar(&caller.Extension, "caller-extension", "", "calling extension (internal calls)")
	fs.StringVar(&caller.CallID, "call-id", "", "CallID to send (default: random)")
	fs.StringVar(&caller.CallAPIID, "call-api-id", "", "CallAPIID to send")
	fs.StringVar(&caller.Status, "status", "", "how the call turns out: ANSWER (default), or BUSY, NOANSWER, CANCEL, CONGESTION, CHANUNAVAIL for a call never answered")
	var opts ivr.Options
	fs.StringVar(&opts.Entry, "entry", "", "start the call in this context instead of the IVR's entry")
	fs.BoolVar(&opts.Strict, "strict", false, "end the call with an error when a 200 answer is not XML (default: a warning, and the call carries on)")
	asJSON := fs.Bool("json", false, "print the transcript as JSON")
	const usage = "usage: dialua call --ivr FILE [--url BASE] [--digits KEYS] [--caller NUMBER] [flags]\n\nWalks one simulated call through the IVR and prints its transcript.\nKEYS are 0-9, *, # (or the words star and hash), _ for a silence and ! for the caller hanging up.\n"
	pos, code, done := parseArgs(fs, "call", args, usage, stdout, stderr)
	if done {
		return code
	}
	if *ivrFile == "" || len(pos) > 0 {
		fmt.Fprint(stderr, "dialua call: --ivr FILE is required, and nothing else\n\n"+usage+flagDefaults(fs))
		return 2
	}
	def, err := ivr.Load(*ivrFile)
	if err != nil {
		fmt.Fprintf(stderr, "dialua call: %v\n", err)
		return 2
	}
	for _, w := range def.Warnings {
		fmt.Fprintf(stderr, "dialua call: warning: %s: %s\n", *ivrFile, w)
	}
	if err := caller.Check(); err != nil {
		fmt.Fprintf(stderr, "dialua call: --digits or --status: %v\n", err)
		return 2
	}
	if opts.Entry != "" {
		if cx := def.Contexts[opts.Entry]; cx == nil || cx.Options["start"] == nil {
			fmt.Fprintf(stderr, "dialua call: --entry %s: the IVR has no such context with a start option\n", opts.Entry)
			return 2
		}
	}
	url, stop, err := target(*base, *scripts, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "dialua call: %v\n", err)
		return 2
	}
	defer stop()
	opts.BaseURL = url
	tr := ivr.Run(context.Background(), def, caller, opts)
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		enc.Encode(tr)
	} else {
		tr.WriteText(stdout)
	}
	if tr.Outcome.State == ivr.EndError || tr.Outcome.State == ivr.EndLoop {
		return 1
	}
	return 0
}

// serverFlags are the flags call and test share: where the server is, or
// which scripts to serve when it is not given.
func serverFlags(fs *flag.FlagSet) (base, scripts *string) {
	base = fs.String("url", "", "base URL of the Call Interactive server (default: serve --scripts on a loopback port)")
	scripts = fs.String("scripts", "./scripts", "scripts root to serve when --url is not given")
	return base, scripts
}

// target returns the server base URL: the one given, or a loopback server
// over the scripts folder started for this command.
func target(base, scripts string, stderr io.Writer) (string, func(), error) {
	if base != "" {
		return base, func() {}, nil
	}
	if fi, err := os.Stat(scripts); err != nil || !fi.IsDir() {
		return "", nil, fmt.Errorf("no --url given and scripts folder %s not found", scripts)
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	lb, err := server.StartLoopback(engine.Options{ScriptsDir: scripts}, log)
	if err != nil {
		return "", nil, err
	}
	return lb.URL, lb.Close, nil
}
