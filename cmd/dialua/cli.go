package main

import (
	"flag"
	"fmt"
	"io"
	"runtime/debug"
	"strings"
)

// The commands parse their flags with the standard library's flag package,
// which already takes --flag as well as -flag; what it lacks is done here,
// in a few lines, rather than with a CLI library: flags after positional
// arguments ("check DIR --tenants F"), -h/--help printed to stdout with exit
// status 0, and help that spells flags --flag as the docs do.

// parseArgs parses a command's arguments. done means the command is over
// with exit status code: help was asked for (usage on stdout, 0) or the
// arguments are wrong (the error and usage on stderr, 2). usage is the
// command's text; its flags are appended.
func parseArgs(fs *flag.FlagSet, cmd string, args []string, usage string, stdout, stderr io.Writer) (pos []string, code int, done bool) {
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	text := usage + flagDefaults(fs)
	if wantsHelp(args) {
		fmt.Fprint(stdout, text)
		return nil, 0, true
	}
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		// The flag package names flags -name; the docs and help say --name.
		msg := strings.Replace(err.Error(), "flag -", "flag --", 1)
		fmt.Fprintf(stderr, "dialua %s: %s\n\n%s", cmd, msg, text)
		return nil, 2, true
	}
	return pos, 0, false
}

// flagDefaults lists a flag set's flags as --name, with their defaults.
func flagDefaults(fs *flag.FlagSet) string {
	var b strings.Builder
	first := true
	fs.VisitAll(func(f *flag.Flag) {
		if first {
			b.WriteString("\nFlags:\n")
			first = false
		}
		name, use := flag.UnquoteUsage(f)
		b.WriteString("  --" + f.Name)
		if name != "" {
			b.WriteString(" " + name)
		}
		b.WriteString("\n    \t" + strings.ReplaceAll(use, "\n", "\n    \t"))
		switch f.DefValue {
		case "", "0", "false", "0s":
		default:
			fmt.Fprintf(&b, " (default %s)", f.DefValue)
		}
		b.WriteString("\n")
	})
	return b.String()
}

// versionString is the module version and the VCS revision the binary was
// built from, as Go's build information records them.
func versionString() string {
	v, rev, dirty := version, "", false
	if bi, ok := debug.ReadBuildInfo(); ok {
		if m := bi.Main.Version; m != "" && m != "(devel)" && v == "dev" {
			v = m
		}
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				rev = s.Value
			case "vcs.modified":
				dirty = s.Value == "true"
			}
		}
	}
	out := "dialua " + v
	if rev != "" {
		if len(rev) > 12 {
			rev = rev[:12]
		}
		out += " (" + rev
		if dirty {
			out += ", modified"
		}
		out += ")"
	}
	return out
}
