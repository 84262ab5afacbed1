package integrations

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
)

// The release pipeline (.goreleaser.yaml, scripts/, release/ociimage,
// integrations/npm/build.sh, .github/workflows), tested offline. The tools
// are the pinned ones from scripts/tools.sh, installed through the Go module
// proxy on first use (goreleaser takes minutes to build, once per machine);
// a test that needs one skips, saying why, when it cannot be had. The
// snapshot is built once per test run, for this machine's platform only.

var (
	toolMu    sync.Mutex
	toolPaths = map[string]string{}
	toolErrs  = map[string]error{}
)

// tool returns the path of a pinned release tool, or skips the test.
func tool(t *testing.T, name string) string {
	t.Helper()
	if runtime.GOOS == "windows" {
		t.Skip("the release scripts run in bash on Linux and macOS")
	}
	toolMu.Lock()
	defer toolMu.Unlock()
	if p, ok := toolPaths[name]; ok {
		return p
	}
	if err, ok := toolErrs[name]; ok {
		t.Skipf("%s is not installed and could not be installed: %v", name, err)
	}
	var stdout, stderr bytes.Buffer
	cmd := exec.Command("bash", "../scripts/tools.sh", name)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		toolErrs[name] = fmt.Errorf("%v\n%s", err, lastLines(stderr.String(), 5))
		t.Skipf("%s is not installed and could not be installed: %v", name, toolErrs[name])
	}
	if stderr.Len() > 0 {
		t.Logf("scripts/tools.sh %s:\n%s", name, lastLines(stderr.String(), 5))
	}
	toolPaths[name] = strings.TrimSpace(stdout.String())
	return toolPaths[name]
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// TestWorkflowsLint runs actionlint on .github/workflows.
func TestWorkflowsLint(t *testing.T) {
	actionlint := tool(t, "actionlint")
	files, _ := filepath.Glob("../.github/workflows/*.yml")
	if len(files) < 2 {
		t.Fatalf("workflows: %v", files)
	}
	out, err := exec.Command(actionlint, append([]string{"-no-color"}, files...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("actionlint: %v\n%s", err, out)
	}
	for _, f := range files {
		data, _ := os.ReadFile(f)
		for _, want := range map[string][]string{
			"ci.yml":      {"pull_request", "macos-latest", "windows-latest", "postgres", "go test -race -count=1 ./..."},
			"release.yml": {`tags: ["v*"]`, "release --clean", "npm publish --provenance", "cosign sign", "secr-dev/secr-action", "id-token: write"},
		}[filepath.Base(f)] {
			if !strings.Contains(string(data), want) {
				t.Errorf("%s lacks %q", filepath.Base(f), want)
			}
		}
	}
}

// TestGoReleaserConfig checks .goreleaser.yaml with goreleaser itself.
func TestGoReleaserConfig(t *testing.T) {
	goreleaser := tool(t, "goreleaser")
	cmd := exec.Command(goreleaser, "check")
	cmd.Dir = ".."
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("goreleaser check: %v\n%s", err, out)
	}
	cfg, _ := os.ReadFile("../.goreleaser.yaml")
	for _, want := range []string{"-X github.com/secr-dev/secr/internal/cli.Version={{ .Version }}", "CGO_ENABLED=0", "sboms:", "nfpms:", "brews:", "algorithm: sha256"} {
		if !strings.Contains(string(cfg), want) {
			t.Errorf(".goreleaser.yaml lacks %q", want)
		}
	}
}

// snapshot is one `goreleaser build --snapshot --single-target` of this
// machine's platform, into a temporary dist directory.
var (
	snapOnce sync.Once
	snapDir  string
	snapVer  string
	snapErr  error
	snapSkip string
)

func snapshot(t *testing.T) (dist, version string) {
	t.Helper()
	if runtime.GOOS == "windows" {
		t.Skip("the release scripts run in bash on Linux and macOS")
	}
	snapOnce.Do(func() {
		// Without goreleaser, the tests that need a snapshot skip.
		var out bytes.Buffer
		install := exec.Command("bash", "../scripts/tools.sh", "goreleaser", "cyclonedx-gomod")
		install.Stdout, install.Stderr = &out, &out
		if err := install.Run(); err != nil {
			snapSkip = "goreleaser is not installed and could not be installed: " + lastLines(out.String(), 5)
			return
		}
		dir, err := os.MkdirTemp("", "secr-snapshot-")
		if err != nil {
			snapErr = err
			return
		}
		snapDir = filepath.Join(dir, "dist")
		cfg, err := os.ReadFile("../.goreleaser.yaml")
		if err != nil {
			snapErr = err
			return
		}
		tmpCfg := filepath.Join(dir, "goreleaser.yaml")
		os.WriteFile(tmpCfg, append([]byte("dist: "+snapDir+"\n"), cfg...), 0o644)
		cmd := exec.Command("bash", "scripts/goreleaser.sh", "build", "--snapshot", "--single-target", "--clean", "--config", tmpCfg)
		cmd.Dir = ".."
		out.Reset()
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Run(); err != nil {
			snapErr = fmt.Errorf("goreleaser build --snapshot: %v\n%s", err, out.String())
			return
		}
		var meta struct{ Version string }
		data, err := os.ReadFile(filepath.Join(snapDir, "metadata.json"))
		if err == nil {
			err = json.Unmarshal(data, &meta)
		}
		if err != nil || meta.Version == "" {
			snapErr = fmt.Errorf("metadata.json: %v %q", err, data)
			return
		}
		snapVer = meta.Version
	})
	if snapSkip != "" {
		t.Skip(snapSkip)
	}
	if snapErr != nil {
		t.Fatal(snapErr)
	}
	return snapDir, snapVer
}

// TestSnapshotVersion: the snapshot's binary reports the snapshot's
// version (injected through -X …/internal/cli.Version), which is VERSION's
// as a prerelease.
func TestSnapshotVersion(t *testing.T) {
	dist, v := snapshot(t)
	if !strings.HasPrefix(v, version(t)+"-snapshot.g") || strings.Contains(v, "none") {
		t.Errorf("snapshot version %q, want %s-snapshot.g<commit>", v, version(t))
	}
	bin := hostBinary(t, dist)
	out, _, code := run(t, exec.Command(bin, "--version"))
	if code != 0 || strings.TrimSpace(out) != "secr version "+v {
		t.Fatalf("%s --version: %d %q, want %q", bin, code, out, "secr version "+v)
	}
}

// hostBinary is the snapshot's binary for this platform, from artifacts.json.
func hostBinary(t *testing.T, dist string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dist, "artifacts.json"))
	if err != nil {
		t.Fatal(err)
	}
	var arts []struct{ Name, Path, Type, Goos, Goarch string }
	json.Unmarshal(data, &arts)
	for _, a := range arts {
		if a.Type == "Binary" && strings.TrimSuffix(a.Name, ".exe") == "secr" && a.Goos == runtime.GOOS && a.Goarch == runtime.GOARCH {
			if !filepath.IsAbs(a.Path) {
				a.Path = filepath.Join("..", a.Path)
			}
			return a.Path
		}
	}
	t.Fatalf("no %s/%s binary in artifacts.json: %s", runtime.GOOS, runtime.GOARCH, data)
	return ""
}

// TestImage assembles the container image from the snapshot's linux binary
// with release/ociimage (offline base), then reads the OCI layout back: the
// platform, a non-root user, the exec-form entrypoint, the version label, a
// /data owned by that user, and a /secr that reports the version and runs
// the /secr-server beside it.
func TestImage(t *testing.T) {
	if runtime.GOOS != "linux" || (runtime.GOARCH != "amd64" && runtime.GOARCH != "arm64") {
		t.Skip("the image holds the linux binary, built here only on linux/amd64 and linux/arm64")
	}
	dist, v := snapshot(t)
	bin := filepath.Join(t.TempDir(), "ociimage")
	build := exec.Command("go", "-C", "../release/ociimage", "build", "-o", bin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Skipf("release/ociimage does not build here (its modules come from the Go module proxy): %v\n%s", err, out)
	}
	cmd := exec.Command(bin, "-dist", dist, "-base", "")
	cmd.Dir = ".."
	stdout, stderr, code := run(t, cmd)
	if code != 0 {
		t.Fatalf("ociimage: %d\n%s", code, stderr)
	}
	ociTar := filepath.Join(dist, "secr_"+v+"_oci.tar")
	dockerTar := filepath.Join(dist, "secr_"+v+"_linux_"+runtime.GOARCH+".docker.tar")
	if !strings.Contains(stdout, ociTar) || !strings.Contains(stdout, dockerTar) {
		t.Fatalf("ociimage wrote:\n%s", stdout)
	}
	blobs := readTar(t, ociTar)

	var index struct {
		Manifests []struct {
			Digest   string
			Platform struct{ OS, Architecture string }
		}
		Annotations map[string]string
	}
	blobJSON := func(digest string, v any) {
		t.Helper()
		data, ok := blobs["blobs/"+strings.Replace(digest, ":", "/", 1)]
		if !ok {
			t.Fatalf("no blob %s", digest)
		}
		if err := json.Unmarshal(data, v); err != nil {
			t.Fatal(err)
		}
	}
	if err := json.Unmarshal(blobs["index.json"], &index); err != nil || len(index.Manifests) != 1 {
		t.Fatalf("index.json: %v %s", err, blobs["index.json"])
	}
	var inner struct {
		Manifests []struct {
			Digest   string
			Platform struct{ OS, Architecture string }
		}
		Annotations map[string]string
	}
	blobJSON(index.Manifests[0].Digest, &inner)
	if len(inner.Manifests) != 1 || inner.Manifests[0].Platform.OS != "linux" || inner.Manifests[0].Platform.Architecture != runtime.GOARCH {
		t.Fatalf("image index: %+v", inner)
	}
	if inner.Annotations["org.opencontainers.image.version"] != v {
		t.Errorf("index annotations: %v", inner.Annotations)
	}
	var manifest struct {
		Config struct{ Digest string }
		Layers []struct{ Digest, MediaType string }
	}
	blobJSON(inner.Manifests[0].Digest, &manifest)
	var config struct {
		Architecture, OS string
		Config           struct {
			User       string
			Entrypoint []string
			Labels     map[string]string
		}
	}
	blobJSON(manifest.Config.Digest, &config)
	if config.Config.User != "65532:65532" || strings.Join(config.Config.Entrypoint, " ") != "/secr" ||
		config.Config.Labels["org.opencontainers.image.version"] != v || config.Architecture != runtime.GOARCH {
		t.Errorf("image config: %+v", config)
	}

	// The layers: /secr, /secr-server, and /data owned by the runtime user.
	files := map[string]*tar.Header{}
	programs := map[string][]byte{}
	for _, l := range manifest.Layers {
		data := blobs["blobs/"+strings.Replace(l.Digest, ":", "/", 1)]
		r, err := gzipReader(data, l.MediaType)
		if err != nil {
			t.Fatal(err)
		}
		tr := tar.NewReader(r)
		for {
			h, err := tr.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			files[strings.TrimSuffix(h.Name, "/")] = h
			if h.Name == "secr" || h.Name == "secr-server" {
				programs[h.Name], _ = io.ReadAll(tr)
			}
		}
	}
	if h := files["data"]; h == nil || h.Typeflag != tar.TypeDir || h.Uid != 65532 || h.Gid != 65532 {
		t.Errorf("/data in the image: %+v", h)
	}
	for _, name := range []string{"secr", "secr-server"} {
		if h := files[name]; h == nil || h.Mode&0o111 == 0 {
			t.Errorf("/%s in the image: %+v", name, h)
		}
	}
	for _, f := range []string{"etc/passwd", "etc/group", "tmp", "home/nonroot"} {
		if files[f] == nil {
			t.Errorf("the offline base lacks /%s", f)
		}
	}
	root := t.TempDir()
	for name, bin := range programs {
		os.WriteFile(filepath.Join(root, name), bin, 0o755)
	}
	exe := filepath.Join(root, "secr")
	if out, _, code := run(t, exec.Command(exe, "--version")); code != 0 || strings.TrimSpace(out) != "secr version "+v {
		t.Errorf("the image's /secr --version: %d %q", code, out)
	}
	// secr server runs the /secr-server beside it.
	if out, _, code := run(t, exec.Command(exe, "server", "--help")); code != 0 || !strings.Contains(out, "--listen") {
		t.Errorf("the image's /secr server --help: %d %q", code, out)
	}
	// The docker-archive tarball (`docker load`) names the image and its layers.
	var dockerManifest []struct {
		Config   string
		RepoTags []string
		Layers   []string
	}
	docker := readTar(t, dockerTar)
	if err := json.Unmarshal(docker["manifest.json"], &dockerManifest); err != nil || len(dockerManifest) != 1 ||
		len(dockerManifest[0].RepoTags) != 1 || !strings.Contains(dockerManifest[0].RepoTags[0], v) || len(dockerManifest[0].Layers) != len(manifest.Layers) {
		t.Errorf("docker-archive manifest.json: %v %s", err, docker["manifest.json"])
	}
}

func gzipReader(data []byte, mediaType string) (io.Reader, error) {
	if !strings.HasSuffix(mediaType, "gzip") {
		return bytes.NewReader(data), nil
	}
	return gzip.NewReader(bytes.NewReader(data))
}

func readTar(t *testing.T, path string) map[string][]byte {
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
			files[h.Name], _ = io.ReadAll(tr)
		}
	}
}

// TestDockerfileRelease: the Dockerfile injects the version, makes /data
// for the non-root user, and .dockerignore keeps dist/ and .git out of the
// build context.
func TestDockerfileRelease(t *testing.T) {
	df, _ := os.ReadFile("../Dockerfile")
	for _, want := range []string{"-X github.com/secr-dev/secr/internal/cli.Version=", "COPY --from=build --chown=65532:65532 /data /data"} {
		if !strings.Contains(string(df), want) {
			t.Errorf("Dockerfile lacks %q", want)
		}
	}
	ignore, err := os.ReadFile("../.dockerignore")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Fields(string(ignore))
	for _, want := range []string{"dist/", ".git", "**/node_modules"} {
		found := false
		for _, l := range lines {
			found = found || l == want
		}
		if !found {
			t.Errorf(".dockerignore lacks %s", want)
		}
	}
}
