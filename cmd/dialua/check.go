package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/dialua/dialua/runtime/loader"
	"github.com/dialua/dialua/runtime/tenant"
)

func check(args []string) int {
	fs := flag.NewFlagSet("check", flag.ContinueOnError)
	tenantsFile := fs.String("tenants", "", "check this tenants `file` (alone, without a DIR; with a DIR instead of DIR/tenants.yaml)")
	const usage = "usage: dialua check [DIR]\n       dialua check --tenants FILE [DIR]\n\nCompiles every .lua file under DIR (default ./scripts) and prints each error as file:line: message;\nalso checks DIR/tenants.yaml when there is one, or the --tenants file.\nExit status 1 if any file fails, 2 on bad usage.\n"
	pos, code, done := parseArgs(fs, "check", args, usage, os.Stdout, os.Stderr)
	if done {
		return code
	}
	if len(pos) > 1 {
		fmt.Fprint(os.Stderr, "dialua check: give one folder\n\n"+usage)
		return 2
	}
	if *tenantsFile != "" && len(pos) == 0 {
		b, err := os.ReadFile(*tenantsFile)
		if err != nil {
			fmt.Fprintf(os.Stderr, "dialua check: --tenants: %v\n", err)
			return 2
		}
		if _, err := tenant.Parse(b); err != nil {
			fmt.Printf("%s: %v\n", *tenantsFile, err)
			return 1
		}
		fmt.Fprintf(os.Stderr, "%s: ok\n", *tenantsFile)
		return 0
	}
	dir := "scripts"
	if len(pos) == 1 {
		dir = pos[0]
	}
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		fmt.Fprintf(os.Stderr, "dialua check: %s is not a folder\n", dir)
		return 2
	}
	errs, files, err := loader.Check(dir)
	if err != nil {
		fmt.Fprintf(os.Stderr, "dialua check: %v\n", err)
		return 2
	}
	for _, e := range errs {
		fmt.Println(e.Error())
	}
	// The operator's tenants file beside the tenants' folders, if any.
	tenantsBad := false
	tf, name := filepath.Join(dir, "tenants.yaml"), "tenants.yaml"
	if *tenantsFile != "" {
		tf, name = *tenantsFile, *tenantsFile
	}
	if b, err := os.ReadFile(tf); err == nil {
		if _, perr := tenant.Parse(b); perr != nil {
			fmt.Printf("%s: %v\n", name, perr)
			tenantsBad = true
		}
	} else if *tenantsFile != "" {
		fmt.Fprintf(os.Stderr, "dialua check: --tenants: %v\n", err)
		return 2
	}
	fmt.Fprintf(os.Stderr, "%d scripts checked, %d with errors\n", files, len(errs))
	if len(errs) > 0 || tenantsBad {
		return 1
	}
	return 0
}
