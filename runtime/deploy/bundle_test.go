package deploy_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/dialua/dialua/runtime/deploy"
)

// Every hostile or malformed bundle is refused with an error that says
// what is wrong, and nothing is written: not in the store, not beside it.
func TestHostileBundles(t *testing.T) {
	e := newEnv(t, nil)
	ok := entry{name: "ivr.lua", body: "return 1"}
	cases := []struct {
		name string
		body []byte
		want string
	}{
		{"dotdot", tarGz(t, ok, entry{name: "../evil.lua", body: "return 1"}), `climbs out of the tree with ".."`},
		{"dotdot inside", tarGz(t, entry{name: "lib/../../evil.lua", body: "return 1"}), `climbs out`},
		{"absolute", tarGz(t, entry{name: "/etc/evil.lua", body: "return 1"}), "absolute path"},
		{"symlink", tarGz(t, ok, entry{name: "lib/util.lua", typ: tar.TypeSymlink, link: "/etc/passwd"}), "symbolic link"},
		{"hard link", tarGz(t, ok, entry{name: "lib/util.lua", typ: tar.TypeLink, link: "ivr.lua"}), "hard link"},
		{"char device", tarGz(t, entry{name: "null.lua", typ: tar.TypeChar}), "device file"},
		{"block device", tarGz(t, entry{name: "sda.lua", typ: tar.TypeBlock}), "device file"},
		{"fifo", tarGz(t, entry{name: "pipe.lua", typ: tar.TypeFifo}), "named pipe"},
		{"not lua", tarGz(t, ok, entry{name: "README.md", body: "hi"}), "not a .lua file"},
		{"hidden", tarGz(t, ok, entry{name: ".env.lua", body: "return 1"}), "path rules"},
		{"hidden folder", tarGz(t, ok, entry{name: ".git/x.lua", body: "return 1"}), "path rules"},
		{"bad characters", tarGz(t, entry{name: "a b.lua", body: "return 1"}), "path rules"},
		{"backslash", tarGz(t, entry{name: `..\evil.lua`, body: "return 1"}), "backslash"},
		{"twice", tarGz(t, ok, ok), "appears twice"},
		{"file and folder", tarGz(t, entry{name: "x.lua", body: "return 1"}, entry{name: "x.lua/y.lua", body: "return 1"}), "needs it to be a folder"},
		{"lib.lua", tarGz(t, entry{name: "lib.lua", body: "return 1"}), "modules folder"},
		{"too large a file", tarGz(t, entry{name: "big.lua", body: strings.Repeat("-", 1<<20+1)}), "at most 1048576"},
		{"empty tar", tarGz(t), "no .lua files"},
		{"only folders", tarGz(t, entry{name: "./", typ: tar.TypeDir}, entry{name: "lib/", typ: tar.TypeDir}), "no .lua files"},
		{"plain tar", plainTar(t), "not gzip"},
		{"text", []byte("hello, world"), "not gzip"},
		{"empty body", nil, "empty"},
		{"truncated", tarGz(t, ok)[:30], "ends early"},
		{"gzip of garbage", gz(t, bytes.Repeat([]byte("garbage!"), 200)), "not a tar archive"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := deploy.Upload(bg, e.store, "acme", bytes.NewReader(c.body), deploy.Limits{}, "")
			if !isBundleErr(err) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got %v, want a bundle error saying %q", err, c.want)
			}
		})
	}
	// A "./" prefix, as tar -C dir -czf - . writes, is fine.
	r, err := deploy.Upload(bg, e.store, "acme", bytes.NewReader(tarGz(t,
		entry{name: "./", typ: tar.TypeDir}, entry{name: "./ivr.lua", body: "return 1"},
		entry{name: "./lib/", typ: tar.TypeDir}, entry{name: "./lib/util.lua", body: "return {}"})), deploy.Limits{}, "")
	if err != nil || len(r.Files) != 2 || r.Files[0].Path != "ivr.lua" || r.Files[1].Path != "lib/util.lua" {
		t.Fatalf("./ prefixed bundle: %+v %v", r, err)
	}
	if err := e.store.RemoveTenant(bg, "acme"); err != nil {
		t.Fatal(err)
	}
	assertNothingWritten(t, e)
}

// The file count, the total and a gzip bomb stop at their limits while the
// bundle streams in: the reader stops reading.
func TestBundleLimits(t *testing.T) {
	e := newEnv(t, nil)
	// 100k files: refused at the file limit, having read a little more
	// than the limit's worth of entries.
	n, err := uploadStream(t, e, func(write func(string, []byte) error) error {
		for i := range 100_000 {
			if err := write("f"+strconv.Itoa(i)+".lua", []byte("return 1")); err != nil {
				return err
			}
		}
		return nil
	})
	if !isBundleErr(err) || !strings.Contains(err.Error(), "more than 2000 files") {
		t.Fatalf("100k files: %v", err)
	}
	if n > 3000 { // the writer runs ahead by what gzip and the pipe buffer
		t.Fatalf("read %d files before refusing", n)
	}
	// A lower limit of the caller's.
	if _, err := deploy.ReadBundle(bytes.NewReader(tarGz(t, entry{name: "a.lua"}, entry{name: "b.lua"}, entry{name: "c.lua"})),
		deploy.Limits{MaxFiles: 2}); !isBundleErr(err) || !strings.Contains(err.Error(), "more than 2 files") {
		t.Fatalf("MaxFiles 2: %v", err)
	}
	// Many files each under the file limit, over the total.
	mib := bytes.Repeat([]byte("-- padding\n"), (1<<20)/11)
	n, err = uploadStream(t, e, func(write func(string, []byte) error) error {
		for i := range 1000 {
			if err := write("f"+strconv.Itoa(i)+".lua", mib); err != nil {
				return err
			}
		}
		return nil
	})
	if !isBundleErr(err) || !strings.Contains(err.Error(), "more than 33554432 bytes once decompressed") {
		t.Fatalf("over the total: %v", err)
	}
	if n > 40 {
		t.Fatalf("read %d MiB files before refusing", n)
	}
	// A gzip bomb: 4 GiB of zeros, a few MiB compressed. Zero blocks read
	// as the end of a tar archive; what follows is still counted.
	var produced int64
	pr, pw := io.Pipe()
	bombDone := make(chan struct{})
	go func() {
		defer close(bombDone)
		zw := gzip.NewWriter(pw)
		zeros := make([]byte, 1<<20)
		var err error
		for i := 0; i < 4096 && err == nil; i++ {
			_, err = zw.Write(zeros)
			produced += int64(len(zeros))
		}
		if err == nil {
			err = zw.Close()
		}
		pw.CloseWithError(err)
	}()
	_, err = deploy.Upload(bg, e.store, "acme", pr, deploy.Limits{}, "")
	pr.Close()
	if !isBundleErr(err) || !strings.Contains(err.Error(), "once decompressed") {
		t.Fatalf("gzip bomb: %v", err)
	}
	<-bombDone
	if produced > 40<<20 {
		t.Fatalf("the bomb inflated %d MiB before it was refused", produced>>20)
	}
	assertNothingWritten(t, e)
}

func writeFile(tw *tar.Writer, name string, b []byte) error {
	if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(b)), Typeflag: tar.TypeReg}); err != nil {
		return err
	}
	_, err := tw.Write(b)
	return err
}

// uploadStream uploads a bundle written on the fly by fill (through
// write), and returns how many files fill wrote before the upload stopped
// reading.
func uploadStream(t *testing.T, e *env, fill func(write func(name string, b []byte) error) error) (files int, err error) {
	pr, pw := io.Pipe()
	done := make(chan int)
	go func() {
		zw := gzip.NewWriter(pw)
		tw := tar.NewWriter(zw)
		n := 0
		err := fill(func(name string, b []byte) error {
			n++
			return writeFile(tw, name, b)
		})
		if err == nil {
			err = tw.Close()
		}
		if err == nil {
			err = zw.Close()
		}
		pw.CloseWithError(err)
		done <- n
	}()
	_, err = deploy.Upload(bg, e.store, "acme", pr, deploy.Limits{}, "")
	pr.CloseWithError(errors.New("upload stopped reading"))
	return <-done, err
}

func plainTar(t *testing.T) []byte {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	writeFile(tw, "ivr.lua", []byte("return 1"))
	tw.Close()
	return buf.Bytes()
}

func gz(t *testing.T, b []byte) []byte {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write(b)
	zw.Close()
	return buf.Bytes()
}

// assertNothingWritten: the store holds no release and no leftovers, and
// nothing appeared beside the data directory.
func assertNothingWritten(t *testing.T, e *env) {
	t.Helper()
	if ts, _ := e.store.Tenants(bg); len(ts) != 0 {
		t.Fatalf("tenants with releases: %v", ts)
	}
	for _, d := range []string{"tmp", "tenants"} {
		if ents, _ := os.ReadDir(filepath.Join(e.data, "releases", d)); len(ents) != 0 {
			t.Fatalf("%s/ holds %v", d, ents)
		}
	}
	filepath.WalkDir(filepath.Dir(e.data), func(p string, d os.DirEntry, err error) error {
		if err == nil && strings.Contains(d.Name(), "evil") {
			t.Errorf("written outside the store: %s", p)
		}
		return nil
	})
	if _, err := os.Stat("/etc/evil.lua"); err == nil {
		t.Error("/etc/evil.lua exists")
	}
}

// ReadDir and WriteBundle, what the CLI uploads, give back the tree
// ReadBundle reads; hidden files and other extensions are left out, a
// symlink is refused.
func TestReadDirRoundTrip(t *testing.T) {
	dir := t.TempDir()
	for name, src := range map[string]string{
		"ivr.lua": "return 1", "billing/index.lua": "return 2", "lib/util.lua": "return {}",
		"README.md": "docs", ".git/config.lua": "x", "lib/.swp.lua": "x",
	} {
		p := filepath.Join(dir, filepath.FromSlash(name))
		os.MkdirAll(filepath.Dir(p), 0o755)
		os.WriteFile(p, []byte(src), 0o644)
	}
	files, err := deploy.ReadDir(dir, deploy.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := deploy.WriteBundle(&buf, files); err != nil {
		t.Fatal(err)
	}
	back, err := deploy.ReadBundle(&buf, deploy.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(back.Paths(), " "); got != "billing/index.lua ivr.lua lib/util.lua" || string(back["billing/index.lua"]) != "return 2" {
		t.Fatalf("round trip: %s", got)
	}
	if deploy.ContentHash(back) != deploy.ContentHash(files) {
		t.Fatal("hash differs after a round trip")
	}
	os.Symlink("/etc/passwd", filepath.Join(dir, "evil.lua"))
	if _, err := deploy.ReadDir(dir, deploy.Limits{}); !isBundleErr(err) || !strings.Contains(err.Error(), "evil.lua") {
		t.Fatalf("symlink: %v", err)
	}
}
