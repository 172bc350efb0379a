package deploy_test

import (
	"archive/tar"
	"compress/gzip"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"voicetoken/internal/testkit"
)

// ociIndex, ociManifest and imageConfig are the parts of the OCI image
// layout the test reads.
type ociIndex struct {
	Manifests []struct {
		Digest string `json:"digest"`
	} `json:"manifests"`
}

type ociManifest struct {
	Config struct {
		Digest string `json:"digest"`
	} `json:"config"`
	Layers []struct {
		MediaType string `json:"mediaType"`
		Digest    string `json:"digest"`
	} `json:"layers"`
}

type imageConfig struct {
	Config struct {
		User         string
		Entrypoint   []string
		Cmd          []string
		Env          []string
		ExposedPorts map[string]struct{}
		Labels       map[string]string
	} `json:"config"`
}

// readArchive returns the files of an OCI archive by name.
func readArchive(t *testing.T, path string) map[string][]byte {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	files := map[string][]byte{}
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return files
		}
		if err != nil {
			t.Fatal(err)
		}
		if h.Typeflag == tar.TypeReg {
			b, err := io.ReadAll(tr)
			if err != nil {
				t.Fatal(err)
			}
			files[strings.TrimPrefix(h.Name, "./")] = b
		}
	}
}

func blob(t *testing.T, files map[string][]byte, digest string) []byte {
	t.Helper()
	b, ok := files["blobs/"+strings.Replace(digest, ":", "/", 1)]
	if !ok {
		t.Fatalf("archive has no blob %s", digest)
	}
	return b
}

// unpack extracts a layer (tar, possibly gzip) into dir and returns the
// paths it holds.
func unpack(t *testing.T, layer []byte, dir string) []string {
	t.Helper()
	var r io.Reader = strings.NewReader(string(layer))
	if len(layer) > 2 && layer[0] == 0x1f && layer[1] == 0x8b {
		gz, err := gzip.NewReader(r)
		if err != nil {
			t.Fatal(err)
		}
		r = gz
	}
	var paths []string
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return paths
		}
		if err != nil {
			t.Fatal(err)
		}
		name := filepath.Clean("/" + h.Name)
		paths = append(paths, name)
		dst := filepath.Join(dir, name)
		switch h.Typeflag {
		case tar.TypeDir:
			os.MkdirAll(dst, 0o755)
		case tar.TypeReg:
			os.MkdirAll(filepath.Dir(dst), 0o755)
			b, _ := io.ReadAll(tr)
			if err := os.WriteFile(dst, b, os.FileMode(h.Mode)&0o777); err != nil {
				t.Fatal(err)
			}
		case tar.TypeSymlink:
			os.MkdirAll(filepath.Dir(dst), 0o755)
			os.Symlink(h.Linkname, dst)
		}
	}
}

// TestImage checks the image scripts/image-check.sh built and saved
// (VOICETOKEN_IMAGE_ARCHIVE): its config, its files, its static binary,
// and the binary serving /healthz as the image's user.
func TestImage(t *testing.T) {
	archive, inspectFile := os.Getenv("VOICETOKEN_IMAGE_ARCHIVE"), os.Getenv("VOICETOKEN_IMAGE_INSPECT")
	if archive == "" { // the last image scripts/image-check.sh built, if any
		archive, inspectFile = "../out/image/voicetoken.oci.tar", "../out/image/inspect.json"
		if _, err := os.Stat(archive); err != nil {
			t.Skip("no image: scripts/image-check.sh builds one (out/image/) and runs this test")
		}
	}
	files := readArchive(t, archive)
	var idx ociIndex
	if err := json.Unmarshal(files["index.json"], &idx); err != nil || len(idx.Manifests) != 1 {
		t.Fatalf("index.json: %v %s", err, files["index.json"])
	}
	var man ociManifest
	if err := json.Unmarshal(blob(t, files, idx.Manifests[0].Digest), &man); err != nil {
		t.Fatal(err)
	}
	var cfg imageConfig
	if err := json.Unmarshal(blob(t, files, man.Config.Digest), &cfg); err != nil {
		t.Fatal(err)
	}
	c := cfg.Config
	if c.User != "65532:65532" {
		t.Errorf("user %q, want 65532:65532 (numeric, non-root)", c.User)
	}
	if !slices.Equal(c.Entrypoint, []string{"/voicetoken"}) || !slices.Equal(c.Cmd, []string{"serve", "--addr", "0.0.0.0:9000"}) {
		t.Errorf("entrypoint %q cmd %q", c.Entrypoint, c.Cmd)
	}
	var inspect []struct{ Healthcheck *struct{ Test []string } }
	if b, err := os.ReadFile(inspectFile); err != nil || json.Unmarshal(b, &inspect) != nil || len(inspect) != 1 {
		t.Errorf("podman image inspect (VOICETOKEN_IMAGE_INSPECT): %v", err)
	} else if hc := inspect[0].Healthcheck; hc == nil || !slices.Equal(hc.Test, []string{"CMD", "/voicetoken", "health", "http://127.0.0.1:9000/healthz"}) {
		t.Errorf("health check %+v, want the binary's own health command (no shell)", hc)
	}
	if _, ok := c.ExposedPorts["9000/tcp"]; !ok {
		t.Errorf("exposed ports %v", c.ExposedPorts)
	}
	if v := os.Getenv("VOICETOKEN_IMAGE_VERSION"); v != "" && c.Labels["org.opencontainers.image.version"] != v {
		t.Errorf("version label %q, want %q", c.Labels["org.opencontainers.image.version"], v)
	}

	root := t.TempDir()
	os.Chmod(root, 0o755) // the image's user must reach the binary
	var paths []string
	for _, l := range man.Layers {
		paths = append(paths, unpack(t, blob(t, files, l.Digest), root)...)
	}
	for _, want := range []string{"/voicetoken", "/etc/ssl/certs/ca-certificates.crt", "/usr/share/zoneinfo/UTC", "/usr/share/zoneinfo/Europe/Paris"} {
		if !slices.Contains(paths, want) {
			t.Errorf("image lacks %s", want)
		}
	}
	for _, p := range paths {
		if strings.HasPrefix(p, "/bin") || strings.HasPrefix(p, "/usr/bin") || strings.HasPrefix(p, "/sbin") || strings.HasPrefix(p, "/lib") {
			t.Errorf("image holds %s: want nothing but the binary, certificates and zoneinfo", p)
		}
	}
	bin := filepath.Join(root, "voicetoken")
	info, err := exec.Command("go", "version", "-m", bin).CombinedOutput()
	if err != nil {
		t.Fatalf("go version -m: %v\n%s", err, info)
	}
	for _, want := range []string{"CGO_ENABLED=0", "-trimpath=true"} {
		if !strings.Contains(string(info), want) {
			t.Errorf("build info lacks %s:\n%.600s", want, info)
		}
	}
	if out, err := exec.Command("file", bin).CombinedOutput(); err != nil || !strings.Contains(string(out), "statically linked") {
		t.Errorf("file: %v %s", err, out)
	}

	// Run the image's command as the image's user, on loopback only.
	addr := freeAddr(t)
	run := func(args ...string) *exec.Cmd {
		if os.Getuid() != 0 {
			t.Logf("not root: running %s as uid %d instead of 65532", filepath.Base(bin), os.Getuid())
			return exec.Command(bin, args...)
		}
		return exec.Command("setpriv", append([]string{"--reuid=65532", "--regid=65532", "--clear-groups", "--", bin}, args...)...)
	}
	serve := run(append(slices.Clone(c.Cmd[:len(c.Cmd)-1]), addr)...)
	serve.Dir = root
	serve.Env = append(c.Env, "HOME=/")
	if err := serve.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { serve.Process.Kill(); serve.Wait() })
	testkit.Eventually(t, 30*time.Second, "serve as the image's user answering /healthz on "+addr, func() bool {
		resp, err := http.Get("http://" + addr + "/healthz")
		if err == nil {
			resp.Body.Close()
		}
		return err == nil && resp.StatusCode == http.StatusOK
	})
	if out, err := run("health", "http://"+addr+"/healthz").CombinedOutput(); err != nil {
		t.Errorf("voicetoken health: %v %s", err, out)
	}
	if out, err := run("health", "http://127.0.0.1:1/healthz").CombinedOutput(); err == nil {
		t.Errorf("voicetoken health with nothing listening: exit 0 %s", out)
	}
	if out, err := run("version").CombinedOutput(); err != nil || !strings.Contains(string(out), os.Getenv("VOICETOKEN_IMAGE_VERSION")) {
		t.Errorf("version: %v %s", err, out)
	}
	t.Logf("image ok: user %s, %d files, serve answered /healthz as uid 65532", c.User, len(paths))
}

func freeAddr(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}
