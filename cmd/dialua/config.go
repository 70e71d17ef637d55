package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// The configuration of dialua serve comes from four places, in this order
// of precedence: the command line, DIALUA_* environment variables, the
// --config file (YAML, keys are the flags' names) and the flags' defaults.
// It is done over the flag set, so every flag, including flags added
// later, has a key and a variable without more code: after the command
// line is parsed, fs.Visit says which flags it gave, and every other flag
// is set with fs.Set from the environment, else from the file; the flag's
// own Value checks it (flagtypes.go), whatever the source.

// Flags that steer the configuration itself and have no key in the file.
var configOnly = map[string]bool{"config": true, "print-config": true}

// envName is a flag's environment variable: max-body is DIALUA_MAX_BODY.
func envName(flagName string) string {
	return "DIALUA_" + strings.ToUpper(strings.NewReplacer("-", "_", ".", "_").Replace(flagName))
}

// source says where a flag's effective value came from, for --print-config.
type source map[string]string

// loadConfig applies the environment and the file named by --config (or
// DIALUA_CONFIG) to the flags the command line did not give. An error is a
// usage error: it names the variable, or the file, line and key.
func loadConfig(fs *flag.FlagSet, configFile string) (source, error) {
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	from := source{}
	for n := range given {
		from[n] = "flag"
	}
	// The environment, checked whole: a bad variable is an error even
	// when a flag overrides it.
	env := map[string]string{}
	var errs []error
	fs.VisitAll(func(f *flag.Flag) {
		if configOnly[f.Name] {
			return
		}
		v, ok := os.LookupEnv(envName(f.Name))
		if !ok || v == "" {
			return // an empty variable is unset
		}
		if err := checkValue(f, v); err != nil || given[f.Name] {
			if err != nil {
				errs = append(errs, fmt.Errorf("%s (for --%s): %v", envName(f.Name), f.Name, err))
			}
			return
		}
		if err := fs.Set(f.Name, v); err != nil {
			errs = append(errs, fmt.Errorf("%s (for --%s): %v", envName(f.Name), f.Name, err))
			return
		}
		env[f.Name] = v
		from[f.Name] = "env " + envName(f.Name)
	})
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if configFile == "" {
		return from, nil
	}
	b, err := os.ReadFile(configFile)
	if err != nil {
		return nil, fmt.Errorf("--config: %v", err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return nil, fmt.Errorf("%s: %s", configFile, strings.TrimPrefix(err.Error(), "yaml: "))
	}
	if len(doc.Content) == 0 {
		return from, nil // empty, or only comments
	}
	top := doc.Content[0]
	if top.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("%s: line %d: the file is a mapping of flag names to values (listen: 127.0.0.1:8080)", configFile, top.Line)
	}
	seen := map[string]int{}
	for i := 0; i+1 < len(top.Content); i += 2 {
		k, v := top.Content[i], top.Content[i+1]
		name := strings.TrimPrefix(k.Value, "--")
		at := fmt.Sprintf("%s: line %d: %s", configFile, k.Line, k.Value)
		f := fs.Lookup(name)
		switch {
		case configOnly[name]:
			errs = append(errs, fmt.Errorf("%s: not a key of the file (a command-line flag only)", at))
			continue
		case f == nil:
			errs = append(errs, fmt.Errorf("%s: unknown key (the keys are the flags of dialua serve --help, without --)", at))
			continue
		case seen[name] != 0:
			errs = append(errs, fmt.Errorf("%s: given twice (first at line %d)", at, seen[name]))
			continue
		case v.Kind != yaml.ScalarNode:
			errs = append(errs, fmt.Errorf("%s: give one value, not a list or a mapping", at))
			continue
		}
		seen[name] = k.Line
		val := v.Value
		if v.Tag == "!!null" {
			val = ""
		}
		if err := checkValue(f, val); err != nil || given[name] || env[name] != "" {
			if err != nil {
				errs = append(errs, fmt.Errorf("%s: %v", at, err))
			}
			continue
		}
		if err := fs.Set(name, val); err != nil {
			errs = append(errs, fmt.Errorf("%s: %v", at, err))
			continue
		}
		from[name] = "file"
	}
	return from, errors.Join(errs...)
}

// checkValue checks v for f without setting it, where the flag's type can.
func checkValue(f *flag.Flag, v string) error {
	if c, ok := f.Value.(checker); ok {
		return c.check(v)
	}
	if b, ok := f.Value.(interface{ IsBoolFlag() bool }); ok && b.IsBoolFlag() {
		if _, err := strconv.ParseBool(v); err != nil {
			return fmt.Errorf("%q is not true or false", v)
		}
	}
	return nil
}

// printConfig writes the effective configuration as a file --config reads,
// secret-like values masked, each value's source as a comment.
func printConfig(w io.Writer, fs *flag.FlagSet, from source) error {
	m := &yaml.Node{Kind: yaml.MappingNode}
	fs.VisitAll(func(f *flag.Flag) {
		if configOnly[f.Name] {
			return
		}
		v := maskValue(f.Name, f.Value.String())
		val := &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: v}
		if b, ok := f.Value.(interface{ IsBoolFlag() bool }); ok && b.IsBoolFlag() {
			val.Tag = "!!bool"
		} else if _, err := strconv.ParseInt(v, 10, 64); err == nil {
			val.Tag = "!!int"
		}
		if s := from[f.Name]; s != "" {
			val.LineComment = "# " + s
		}
		m.Content = append(m.Content, &yaml.Node{Kind: yaml.ScalarNode, Value: f.Name}, val)
	})
	var buf bytes.Buffer
	buf.WriteString("# dialua serve: effective configuration (flag > DIALUA_* variable > --config file > default).\n")
	buf.WriteString("# Secret-like values are masked (*****; redis:// passwords as xxxxx).\n")
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(m); err != nil {
		return err
	}
	_, err := w.Write(buf.Bytes())
	return err
}

// maskValue hides what may be a secret: any value whose key contains
// token, password or secret, and the password of a redis:// URL.
func maskValue(key, v string) string {
	k := strings.ToLower(key)
	if v != "" && (strings.Contains(k, "token") || strings.Contains(k, "password") || strings.Contains(k, "secret")) {
		return "*****"
	}
	if u, err := url.Parse(v); err == nil && (u.Scheme == "redis" || u.Scheme == "rediss") && u.User != nil {
		if _, ok := u.User.Password(); ok {
			return u.Redacted()
		}
	}
	return v
}
