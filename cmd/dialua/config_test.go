package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// printed runs serve --print-config and returns key -> "value # source".
func printed(t *testing.T, dir string, args ...string) map[string]string {
	t.Helper()
	r := runDialua(t, dir, append([]string{"serve", "--print-config"}, args...)...)
	if r.code != 0 {
		t.Fatalf("serve --print-config %q: exit %d\n%s", args, r.code, r.stderr)
	}
	out := map[string]string{}
	for _, l := range lines(r.stdout) {
		if strings.HasPrefix(l, "#") {
			continue
		}
		k, v, ok := strings.Cut(l, ": ")
		if !ok {
			t.Fatalf("line %q is not key: value", l)
		}
		out[k] = v
	}
	return out
}

// TestConfigPrecedence: flag > DIALUA_* > file > default, each value's
// source shown, and the printed file read back as --config gives the same.
func TestConfigPrecedence(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"c.yaml": `# a comment
listen: 127.0.0.1:9001
max-body: 1MiB
max-header: 4KiB
timeout: 3s
dev: true
`})
	t.Setenv("DIALUA_MAX_HEADER", "16KiB")
	t.Setenv("DIALUA_TIMEOUT", "2s")
	t.Setenv("DIALUA_VMS", "") // empty: unset
	got := printed(t, dir, "--config", "c.yaml", "--timeout", "250ms")
	for k, want := range map[string]string{
		"listen":      "127.0.0.1:9001 # file",
		"max-body":    "1MiB # file",
		"max-header":  "16KiB # env DIALUA_MAX_HEADER",
		"timeout":     "250ms # flag",
		"dev":         "true # file",
		"vms":         "0",
		"max-memory":  "4GiB",
		"gc-headroom": "64MiB",
		"scripts":     "./scripts",
	} {
		if got[k] != want {
			t.Errorf("%s: %q, want %q", k, got[k], want)
		}
	}
	if _, ok := got["config"]; ok {
		t.Error("--config is printed as a key")
	}
	// The output is a config file: read back (without the environment), it
	// gives the same values.
	t.Setenv("DIALUA_MAX_HEADER", "")
	t.Setenv("DIALUA_TIMEOUT", "")
	r := runDialua(t, dir, "serve", "--print-config", "--config", "c.yaml", "--timeout", "250ms", "--max-header", "16KiB")
	if err := os.WriteFile(filepath.Join(dir, "round.yaml"), []byte(r.stdout), 0o600); err != nil {
		t.Fatal(err)
	}
	again := printed(t, dir, "--config", "round.yaml")
	for k, v := range got {
		if w, _, _ := strings.Cut(v, " #"); strings.TrimSuffix(again[k], " # file") != w {
			t.Errorf("round trip %s: %q, want %q", k, again[k], w)
		}
	}
	// DIALUA_CONFIG names the file too.
	t.Setenv("DIALUA_CONFIG", "c.yaml")
	if got := printed(t, dir); got["max-body"] != "1MiB # file" {
		t.Errorf("DIALUA_CONFIG: max-body %q", got["max-body"])
	}
}

// TestConfigSizes: units, plain bytes, off, and the canonical form printed.
func TestConfigSizes(t *testing.T) {
	got := printed(t, t.TempDir(), "--max-body", "65536", "--max-response", "1.5MiB", "--max-cache", "2GiB",
		"--max-memory", "off", "--max-run-memory", "-1", "--gc-headroom", "128MiB", "--max-string", "100", "--max-header", "16kib")
	for k, want := range map[string]string{
		"max-body": "64KiB", "max-response": "1536KiB", "max-cache": "2GiB", "max-memory": "off",
		"max-run-memory": "off", "gc-headroom": "128MiB", "max-string": "100", "max-header": "16KiB",
	} {
		if v, _, _ := strings.Cut(got[k], " #"); v != want {
			t.Errorf("%s: %q, want %q", k, v, want)
		}
	}
}

// TestConfigBadValues: nonsense is a usage error (exit 2) that names the
// flag, the variable or the file's line and key, and what is allowed.
func TestConfigBadValues(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"unknown.yaml": "listen: :1\nlisten-addr: :2\n",
		"badval.yaml":  "\nmax-body: -1\n",
		"list.yaml":    "listen: [a, b]\n",
		"twice.yaml":   "vms: 2\nvms: 3\n",
		"self.yaml":    "config: other.yaml\n",
		"over.yaml":    "timeout: 0s\n",
		"scalar.yaml":  "just words\n",
	})
	for _, c := range []struct {
		args []string
		env  [2]string
		want string
	}{
		{[]string{"--timeout", "-1s"}, [2]string{}, `flag --timeout: "-1s" is not a duration over 0`},
		{[]string{"--timeout", "0s"}, [2]string{}, `flag --timeout: "0s" is not a duration over 0`},
		{[]string{"--read-timeout", "fast"}, [2]string{}, `flag --read-timeout: "fast" is not a duration over 0`},
		{[]string{"--session-ttl", "0"}, [2]string{}, `flag --session-ttl: "0" is not a duration over 0`},
		{[]string{"--shutdown-timeout", "-1s"}, [2]string{}, `flag --shutdown-timeout: "-1s" is not a duration (like 500ms, 2s, 1m), 0 meaning stop at once`},
		{[]string{"--vms", "-5"}, [2]string{}, `flag --vms: "-5" is not a whole number of at least 1, or 0 (8 per CPU)`},
		{[]string{"--tenant-vms", "-1"}, [2]string{}, `flag --tenant-vms: "-1" is not a whole number of at least 1`},
		{[]string{"--max-scripts", "0"}, [2]string{}, `flag --max-scripts: "0" is not a whole number of at least 1`},
		{[]string{"--access-log-sample", "0"}, [2]string{}, `flag --access-log-sample: "0" is not a whole number of at least 1`},
		{[]string{"--gc-percent", "-1"}, [2]string{}, `flag --gc-percent: "-1" is not a whole number of at least 1, or 0 (use --gc-headroom)`},
		{[]string{"--max-body", "-1"}, [2]string{}, `flag --max-body: "-1" is not a size of at least 1 (bytes, or with a unit: 64KiB, 512MiB, 4GiB)`},
		{[]string{"--max-body", "0"}, [2]string{}, `flag --max-body: "0" is not a size`},
		{[]string{"--max-header", "8KB"}, [2]string{}, `flag --max-header: "8KB" is not a size`},
		{[]string{"--max-response", "lots"}, [2]string{}, `flag --max-response: "lots" is not a size`},
		{[]string{"--max-string", "0"}, [2]string{}, `flag --max-string: "0" is not a size`},
		{[]string{"--max-cache", "-1"}, [2]string{}, `flag --max-cache: "-1" is not a size`},
		{[]string{"--max-tenant-cache", "0"}, [2]string{}, `flag --max-tenant-cache: "0" is not a size`},
		{[]string{"--max-memory", "0"}, [2]string{}, `flag --max-memory: "0" is not a size of at least 1MiB (bytes, or with a unit: 64KiB, 512MiB, 4GiB), or off`},
		{[]string{"--max-run-memory", "0"}, [2]string{}, `flag --max-run-memory: "0" is not a size of at least 1 (bytes, or with a unit: 64KiB, 512MiB, 4GiB), or off`},
		{[]string{"--gc-headroom", "64"}, [2]string{}, `flag --gc-headroom: "64" is not a size of at least 1MiB`},
		{nil, [2]string{"DIALUA_VMS", "-5"}, `DIALUA_VMS (for --vms): "-5" is not a whole number`},
		{nil, [2]string{"DIALUA_DEV", "yes please"}, `DIALUA_DEV (for --dev): "yes please" is not true or false`},
		// A bad variable is an error even when a flag overrides it.
		{[]string{"--max-body", "1KiB"}, [2]string{"DIALUA_MAX_BODY", "-1"}, `DIALUA_MAX_BODY (for --max-body): "-1" is not a size`},
		{[]string{"--config", "unknown.yaml"}, [2]string{}, `unknown.yaml: line 2: listen-addr: unknown key`},
		{[]string{"--config", "badval.yaml"}, [2]string{}, `badval.yaml: line 2: max-body: "-1" is not a size of at least 1`},
		{[]string{"--config", "over.yaml", "--timeout", "1s"}, [2]string{}, `over.yaml: line 1: timeout: "0s" is not a duration over 0`},
		{[]string{"--config", "list.yaml"}, [2]string{}, `list.yaml: line 1: listen: give one value`},
		{[]string{"--config", "twice.yaml"}, [2]string{}, `twice.yaml: line 2: vms: given twice (first at line 1)`},
		{[]string{"--config", "self.yaml"}, [2]string{}, `self.yaml: line 1: config: not a key of the file`},
		{[]string{"--config", "scalar.yaml"}, [2]string{}, `scalar.yaml: line 1: the file is a mapping`},
		{[]string{"--config", "missing.yaml"}, [2]string{}, `--config: open missing.yaml`},
	} {
		if c.env[0] != "" {
			t.Setenv(c.env[0], c.env[1])
		}
		r := runDialua(t, dir, append([]string{"serve", "--print-config"}, c.args...)...)
		if c.env[0] != "" {
			os.Unsetenv(c.env[0])
		}
		if r.code != 2 || !strings.Contains(r.stderr, c.want) || r.stdout != "" {
			t.Errorf("%q %v: exit %d, stderr:\n%s\nwant exit 2 and %q", c.args, c.env, r.code, r.stderr, c.want)
		}
	}
}

// TestPrintConfigMasks: secret-like keys and redis passwords are masked.
func TestPrintConfigMasks(t *testing.T) {
	dir := t.TempDir()
	got := printed(t, dir, "--session-store", "redis://dialua:hunter2@redis.internal:6379/0",
		"--release-store", "rediss://:s3cret@redis.internal:6380/1", "--admin-token-file", "/run/secrets/admin")
	r := runDialua(t, dir, "serve", "--print-config", "--session-store", "redis://dialua:hunter2@redis.internal:6379/0",
		"--release-store", "rediss://:s3cret@redis.internal:6380/1", "--admin-token-file", "/run/secrets/admin")
	for _, secret := range []string{"hunter2", "s3cret", "/run/secrets"} {
		if strings.Contains(r.stdout, secret) {
			t.Errorf("--print-config shows %q:\n%s", secret, r.stdout)
		}
	}
	if !strings.HasPrefix(got["session-store"], "redis://dialua:xxxxx@redis.internal:6379/0") {
		t.Errorf("session-store %q", got["session-store"])
	}
	if !strings.HasPrefix(got["admin-token-file"], "'*****'") {
		t.Errorf("admin-token-file %q", got["admin-token-file"])
	}
}

// TestCheckTenants: check --tenants validates any tenants file.
func TestCheckTenants(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"good.yaml": "defaults:\n  timeout: 2s\ntenants:\n  acme:\n    env: {K: v}\n",
		"bad.yaml":  "tenants:\n  acme:\n    timeout: fast\n",
		"defs.yaml": "defaults:\n  env: {K: v}\n",
	})
	if r := runDialua(t, dir, "check", "--tenants", "good.yaml"); r.code != 0 {
		t.Errorf("good: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	for f, want := range map[string]string{
		"bad.yaml":  `bad.yaml: tenant acme: line 3: timeout: "fast" is not a duration`,
		"defs.yaml": "defs.yaml: defaults: env is per tenant",
	} {
		if r := runDialua(t, dir, "check", "--tenants", f); r.code != 1 || !strings.Contains(r.stdout, want) {
			t.Errorf("%s: exit %d, stdout %q, want 1 and %q", f, r.code, r.stdout, want)
		}
	}
	if r := runDialua(t, dir, "check", "--tenants", "missing.yaml"); r.code != 2 {
		t.Errorf("missing file: exit %d, want 2", r.code)
	}
}
