package main

// The release commands: deploy, releases and rollback, clients of the
// admin API (runtime/admin, docs/admin.md).

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/dialua/dialua/runtime/deploy"
)

// clientFlags are the flags every release command has.
type clientFlags struct {
	tenant, admin, token *string
	timeout              *time.Duration
}

func addClientFlags(fs *flag.FlagSet) clientFlags {
	return clientFlags{
		tenant:  fs.String("tenant", "", "tenant (required)"),
		admin:   fs.String("admin", os.Getenv("DIALUA_ADMIN_URL"), "admin API URL, e.g. http://127.0.0.1:9090 (default $DIALUA_ADMIN_URL)"),
		token:   fs.String("token", "", "operator or deploy token (default $DIALUA_TOKEN; prefer the variable: flags show in ps)"),
		timeout: fs.Duration("timeout", 2*time.Minute, "time allowed for the request"),
	}
}

// wantsHelp reports whether args ask for help (before any "--").
func wantsHelp(args []string) bool {
	for _, a := range args {
		switch a {
		case "--":
			return false
		case "-h", "-help", "--help":
			return true
		}
	}
	return false
}

// parseInterspersed parses flags wherever they are among the arguments
// ("deploy DIR --tenant T" as well as "deploy --tenant T DIR") and returns
// the positional ones.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

// client is an admin API client.
type client struct {
	base, token string
	hc          *http.Client
}

// client checks the common flags; a non-empty message is a usage error.
func (f clientFlags) client() (*client, string) {
	if *f.tenant == "" {
		return nil, "--tenant is required"
	}
	if !deploy.ValidTenant(*f.tenant) {
		return nil, fmt.Sprintf("--tenant %q is not a tenant name (letters, digits, '.', '_', '-')", *f.tenant)
	}
	base := strings.TrimRight(*f.admin, "/")
	if base == "" {
		return nil, "--admin URL is required (or set DIALUA_ADMIN_URL), e.g. --admin http://127.0.0.1:9090"
	}
	if !strings.Contains(base, "://") {
		base = "http://" + base
	}
	if u, err := url.Parse(base); err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return nil, fmt.Sprintf("--admin %q is not an http:// or https:// URL", *f.admin)
	}
	tok := *f.token
	if tok == "" {
		tok = os.Getenv("DIALUA_TOKEN")
	}
	if tok == "" {
		return nil, "no token: set DIALUA_TOKEN (or pass --token) to the operator token or one of the tenant's deploy tokens"
	}
	return &client{base: base, token: tok, hc: &http.Client{Timeout: *f.timeout}}, ""
}

// apiError is an error answer of the admin API.
type apiError struct {
	Status int
	Msg    string   `json:"error"`
	Lines  []string `json:"errors"`
}

func (e *apiError) Error() string {
	return fmt.Sprintf("%s (HTTP %d)", e.Msg, e.Status)
}

// do sends a request and decodes a 2xx answer into out.
func (c *client) do(method, path, query string, body io.Reader, ctype string, out any) error {
	u := c.base + path
	if query != "" {
		u += "?" + query
	}
	req, err := http.NewRequest(method, u, body)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode/100 != 2 {
		e := &apiError{Status: resp.StatusCode}
		if json.Unmarshal(b, e) != nil || e.Msg == "" {
			e.Msg = strings.TrimSpace(string(b))
			if len(e.Msg) > 300 {
				e.Msg = e.Msg[:300] + "..."
			}
			if e.Msg == "" {
				e.Msg = http.StatusText(resp.StatusCode)
			}
		}
		return e
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			return fmt.Errorf("the admin API answered what is not JSON (%v); is --admin the admin listener?", err)
		}
	}
	return nil
}

// usageErr prints a usage error and returns 2.
func usageErr(stderr io.Writer, cmd, msg, usage string) int {
	fmt.Fprintf(stderr, "dialua %s: %s\n\n%s", cmd, msg, usage)
	return 2
}

func flagUsage(fs *flag.FlagSet, w io.Writer, text string) string {
	return text + flagDefaults(fs)
}

const deployUsage = `usage: dialua deploy DIR --tenant T --admin URL [--token TOKEN] [--message M] [--canary PCT] [--no-activate]

Uploads the tenant's tree in DIR (scripts, and modules under lib/) as a new
release and activates it, or sends PCT% of new calls to it (--canary), or
only stores it (--no-activate). Prints the new release id on stdout; a
release that does not compile is refused whole, each error printed on
stderr as file:line: message. Exit status 0 when deployed, 1 when refused
or failed, 2 on bad usage.

`

// deployCmd: dialua deploy DIR ...
func deployCmd(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("deploy", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cf := addClientFlags(fs)
	msg := fs.String("message", "", "the release's message (what changed)")
	canary := fs.Int("canary", 0, "send this percentage (1-99) of new calls to the release instead of activating it")
	noActivate := fs.Bool("no-activate", false, "store the release without activating it")
	usage := flagUsage(fs, stderr, deployUsage)
	pos, code, done := parseArgs(fs, "deploy", args, deployUsage, stdout, stderr)
	if done {
		return code
	}
	if len(pos) != 1 {
		return usageErr(stderr, "deploy", "give one folder, the tenant's tree", usage)
	}
	dir := pos[0]
	if *canary != 0 && (*canary < 1 || *canary > 99) {
		return usageErr(stderr, "deploy", "--canary is a percentage from 1 to 99", usage)
	}
	c, bad := cf.client()
	if bad != "" {
		return usageErr(stderr, "deploy", bad, usage)
	}
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		fmt.Fprintf(stderr, "dialua deploy: %s is not a folder\n", dir)
		return 2
	}
	files, err := deploy.ReadDir(dir, deploy.Limits{})
	if err != nil {
		var be *deploy.BundleError
		if errors.As(err, &be) && be.Path != "" {
			fmt.Fprintf(stderr, "%s: %s\n", filepath.Join(dir, filepath.FromSlash(be.Path)), be.Reason)
		} else {
			fmt.Fprintf(stderr, "dialua deploy: %v\n", err)
		}
		return 1
	}
	if len(files) == 0 {
		fmt.Fprintf(stderr, "dialua deploy: no .lua files in %s\n", dir)
		return 1
	}
	var body bytes.Buffer
	if err := deploy.WriteBundle(&body, files); err != nil {
		fmt.Fprintf(stderr, "dialua deploy: %v\n", err)
		return 1
	}
	q := url.Values{}
	if *msg != "" {
		q.Set("message", *msg)
	}
	switch {
	case *canary > 0:
		q.Set("canary", strconv.Itoa(*canary))
	case !*noActivate:
		q.Set("activate", "true")
	}
	var rel struct {
		deploy.Release
		State deploy.State `json:"state"`
	}
	err = c.do("POST", "/v1/tenants/"+*cf.tenant+"/releases", q.Encode(), &body, "application/gzip", &rel)
	var ae *apiError
	switch {
	case errors.As(err, &ae) && len(ae.Lines) > 0:
		prefix := *cf.tenant + "/"
		for _, l := range ae.Lines {
			// tenant/path.lua:LINE: message, as the file in DIR.
			if rest, ok := strings.CutPrefix(l, prefix); ok {
				if i := strings.Index(rest, ".lua:"); i >= 0 {
					l = filepath.Join(dir, filepath.FromSlash(rest[:i+4])) + rest[i+4:]
				}
			}
			fmt.Fprintln(stderr, l)
		}
		fmt.Fprintf(stderr, "dialua deploy: release refused: %d %s; nothing changed on the server\n", len(ae.Lines), plural(len(ae.Lines), "error", "errors"))
		return 1
	case err != nil:
		fmt.Fprintf(stderr, "dialua deploy: %v\n", err)
		return 1
	}
	fmt.Fprintln(stdout, rel.ID)
	what := "stored, not active (activate it with POST .../activate, or dialua rollback --to " + rel.ID + ")"
	switch {
	case rel.State.Active == rel.ID:
		what = "active"
	case rel.State.Canary != nil && rel.State.Canary.Release == rel.ID:
		what = fmt.Sprintf("canary for %d%% of new calls (the rest stay on %s)", rel.State.Canary.Percent, rel.State.Active)
	}
	fmt.Fprintf(stderr, "dialua deploy: %s release %s (%d %s): %s\n", *cf.tenant, rel.ID, len(rel.Files), plural(len(rel.Files), "file", "files"), what)
	return 0
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

const releasesUsage = `usage: dialua releases --tenant T --admin URL [--token TOKEN] [--json]

Lists the tenant's releases, oldest first: * marks the active one, ~ the
canary. Exit status 0, 1 when the request fails, 2 on bad usage.

`

// releasesCmd: dialua releases ...
func releasesCmd(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("releases", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cf := addClientFlags(fs)
	asJSON := fs.Bool("json", false, "print the admin API's JSON answer")
	usage := flagUsage(fs, stderr, releasesUsage)
	pos, code, done := parseArgs(fs, "releases", args, releasesUsage, stdout, stderr)
	if done {
		return code
	}
	if len(pos) > 0 {
		return usageErr(stderr, "releases", fmt.Sprintf("unexpected argument %q", pos[0]), usage)
	}
	c, bad := cf.client()
	if bad != "" {
		return usageErr(stderr, "releases", bad, usage)
	}
	var h deploy.History
	var raw json.RawMessage
	if err := c.do("GET", "/v1/tenants/"+*cf.tenant+"/releases", "", nil, "", &raw); err != nil {
		fmt.Fprintf(stderr, "dialua releases: %v\n", err)
		return 1
	}
	if *asJSON {
		stdout.Write(append(bytes.TrimSpace(raw), '\n'))
		return 0
	}
	if err := json.Unmarshal(raw, &h); err != nil {
		fmt.Fprintf(stderr, "dialua releases: %v\n", err)
		return 1
	}
	if len(h.Releases) == 0 {
		fmt.Fprintf(stdout, "%s has no releases: it is served from the scripts folder\n", *cf.tenant)
		return 0
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "\tID\tCREATED\tFILES\tMESSAGE")
	for _, r := range h.Releases {
		mark := ""
		switch {
		case r.ID == h.Active:
			mark = "*"
		case h.Canary != nil && r.ID == h.Canary.Release:
			mark = fmt.Sprintf("~%d%%", h.Canary.Percent)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\n", mark, r.ID, r.Created.UTC().Format(time.RFC3339), len(r.Files), oneLine(r.Message))
	}
	tw.Flush()
	return 0
}

// oneLine keeps a message to one line of a table.
func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 72 {
		s = s[:69] + "..."
	}
	return s
}

const rollbackUsage = `usage: dialua rollback --tenant T [--to ID] --admin URL [--token TOKEN]

Activates an earlier release: --to ID, or the one before the active one
(repeated, it walks back one release each time). Prints the now active
release id. Exit status 0, 1 when refused or failed, 2 on bad usage.

`

// rollbackCmd: dialua rollback ...
func rollbackCmd(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("rollback", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cf := addClientFlags(fs)
	to := fs.String("to", "", "release id to roll back to (default: the one before the active)")
	usage := flagUsage(fs, stderr, rollbackUsage)
	pos, code, done := parseArgs(fs, "rollback", args, rollbackUsage, stdout, stderr)
	if done {
		return code
	}
	if len(pos) > 0 {
		return usageErr(stderr, "rollback", fmt.Sprintf("unexpected argument %q (the release is --to ID)", pos[0]), usage)
	}
	c, bad := cf.client()
	if bad != "" {
		return usageErr(stderr, "rollback", bad, usage)
	}
	var body io.Reader
	if *to != "" {
		b, _ := json.Marshal(map[string]string{"to": *to})
		body = bytes.NewReader(b)
	}
	var st struct {
		Active string `json:"active"`
	}
	if err := c.do("POST", "/v1/tenants/"+*cf.tenant+"/rollback", "", body, "application/json", &st); err != nil {
		fmt.Fprintf(stderr, "dialua rollback: %v\n", err)
		return 1
	}
	fmt.Fprintln(stdout, st.Active)
	fmt.Fprintf(stderr, "dialua rollback: %s is now on release %s\n", *cf.tenant, st.Active)
	return 0
}
