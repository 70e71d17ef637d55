package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/dialua/dialua/runtime"
)

func check(args []string) int {
	fs := flag.NewFlagSet("check", flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: dialua check [DIR]\n\nCompiles every .lua file under DIR (default ./scripts) and prints each error as file:line: message.\nExit status 1 if any file fails, 2 on bad usage.")
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 1 {
		fs.Usage()
		return 2
	}
	dir := "scripts"
	if fs.NArg() == 1 {
		dir = fs.Arg(0)
	}
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		fmt.Fprintf(os.Stderr, "dialua check: %s is not a folder\n", dir)
		return 2
	}
	errs, files, err := runtime.Check(dir)
	if err != nil {
		fmt.Fprintf(os.Stderr, "dialua check: %v\n", err)
		return 2
	}
	for _, e := range errs {
		fmt.Println(e.Error())
	}
	fmt.Fprintf(os.Stderr, "%d scripts checked, %d with errors\n", files, len(errs))
	if len(errs) > 0 {
		return 1
	}
	return 0
}
