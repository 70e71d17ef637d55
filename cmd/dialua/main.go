// Command dialua hosts Call Interactive scripts written in Lua.
//
//	dialua serve [flags]   serve the scripts folder over HTTP
//	dialua dev [flags]     serve it in dev mode with the dev phone page
//	dialua check [DIR]     compile every script and report syntax errors
//	dialua call ...        walk one simulated call through an IVR definition
//	dialua test [PATH...]  run IVR scenario files against a server
//	dialua deploy DIR ...  upload a tenant's release through the admin API
//	dialua releases ...    list a tenant's releases
//	dialua rollback ...    activate an earlier release
//
// Run "dialua help" or "dialua COMMAND -h" for flags.
package main

import (
	"fmt"
	"os"

	"github.com/dialua/dialua/runtime/sandbox"
)

const usage = `dialua hosts Call Interactive scripts written in Lua.

Usage:
  dialua serve [flags]   serve the scripts folder (default ./scripts) on 127.0.0.1:8080
  dialua dev [--scripts DIR] [--ivr DIR]
                         serve them in dev mode, and the dev phone on http://127.0.0.1:8090/:
                         place simulated calls in a browser, live (docs/console.md)
  dialua check [DIR]     compile every .lua file under DIR (default ./scripts); print file:line: message per error
  dialua call --ivr FILE [--url BASE] [--digits KEYS] [--caller NUMBER] [--json]
                         walk one simulated call through an IVR and print its transcript
  dialua test [PATH...]  run IVR scenario files (*.test.yaml, default ./examples); end with "N passed, N failed"
  dialua deploy DIR --tenant T --admin URL [--token TOKEN] [--message M] [--canary PCT] [--no-activate]
                         upload DIR as a new release of tenant T and activate it (docs/admin.md)
  dialua releases --tenant T --admin URL
                         list the tenant's releases, the active one marked
  dialua rollback --tenant T [--to ID] --admin URL
                         activate an earlier release (default: the one before the active)
  dialua version         print the version and the VCS revision (also --version)
  dialua help COMMAND    a command's usage and flags (also dialua COMMAND --help)

Run "dialua COMMAND -h" for a command's flags; flags may come before or after
the other arguments. The release commands take the
token from DIALUA_TOKEN (or --token) and the admin URL from DIALUA_ADMIN_URL.
`

// version is set at build time with -ldflags "-X main.version=v1.2.3";
// otherwise the module version from the build information is printed.
var version = "dev"

// commands are the names run dispatches, for "dialua help CMD".
var commands = map[string]bool{"serve": true, "dev": true, "check": true, "call": true, "test": true,
	"deploy": true, "releases": true, "rollback": true}

func main() {
	// The sandbox's array limit lives in a gopher-lua package variable: the
	// program sets it, once, for every Lua state it will run.
	sandbox.LimitArrays()
	os.Exit(run(os.Args[1:]))
}

func run(args []string) int {
	if len(args) == 0 {
		fmt.Fprint(os.Stderr, usage)
		return 2
	}
	switch args[0] {
	case "serve":
		return serve(args[1:])
	case "dev":
		return devCmd(args[1:], os.Stdout, os.Stderr)
	case "check":
		return check(args[1:])
	case "call":
		return callCmd(args[1:], os.Stdout, os.Stderr)
	case "test":
		return testCmd(args[1:], os.Stdout, os.Stderr)
	case "deploy":
		return deployCmd(args[1:], os.Stdout, os.Stderr)
	case "releases":
		return releasesCmd(args[1:], os.Stdout, os.Stderr)
	case "rollback":
		return rollbackCmd(args[1:], os.Stdout, os.Stderr)
	case "version", "--version", "-version":
		fmt.Println(versionString())
		return 0
	case "help", "-h", "--help":
		if len(args) > 1 && args[1] != "help" {
			if _, known := commands[args[1]]; known {
				return run([]string{args[1], "--help"})
			}
			fmt.Fprintf(os.Stderr, "dialua help: unknown command %q\n\n%s", args[1], usage)
			return 2
		}
		fmt.Print(usage)
		return 0
	}
	fmt.Fprintf(os.Stderr, "dialua: unknown command %q\n\n%s", args[0], usage)
	return 2
}
