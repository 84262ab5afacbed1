// Command ociimage assembles the secr container image from the linux
// binaries GoReleaser already built (no second compile, no Docker engine):
// one image per architecture on a distroless base, the binaries at /secr
// and /secr-server (which `secr server` runs), a
// /data directory owned by the non-root runtime user, the version in the
// labels, joined into one multi-arch index.
//
// It writes dist/secr_<version>_oci.tar (an OCI image layout: `skopeo copy
// oci-archive:…`, `crane push`, or `docker load` with the containerd image
// store) and dist/secr_<version>_linux_<arch>.docker.tar per architecture
// (`docker load` with any store). With --push it pushes the index to each
// named reference instead and prints its digest.
//
// --base names the base image (default gcr.io/distroless/static-debian12:nonroot).
// --base="" builds an equivalent base offline (root and nonroot users, CA
// certificates from this machine, /tmp, /home/nonroot): `make snapshot` uses
// it because no container registry is reachable from the build machines.
package main

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

const (
	uid, gid = 65532, 65532 // distroless's nonroot
	source   = "https://github.com/secr-dev/secr"
)

// artifact is the part of an entry of GoReleaser's dist/artifacts.json used here.
type artifact struct {
	Name   string `json:"name"`
	Path   string `json:"path"`
	Goos   string `json:"goos"`
	Goarch string `json:"goarch"`
	Type   string `json:"type"`
}

// programs are the binaries each image holds.
var programs = []string{"secr", "secr-server"}

// archBinaries are one architecture's programs, by name.
type archBinaries struct {
	Goarch string
	paths  map[string]string
}

type metadata struct {
	Version string `json:"version"`
	Tag     string `json:"tag"`
	Commit  string `json:"commit"`
	Date    string `json:"date"`
}

func main() {
	log.SetFlags(0)
	log.SetPrefix("ociimage: ")
	dist := flag.String("dist", "dist", "GoReleaser's dist directory")
	base := flag.String("base", "gcr.io/distroless/static-debian12:nonroot", `base image; "" builds an equivalent base offline`)
	var push multiFlag
	flag.Var(&push, "push", "push the index to this reference (repeatable) instead of writing tarballs")
	digestFile := flag.String("digest-file", "", "with --push: write the pushed index's digest here")
	flag.Parse()

	meta, bins, err := readDist(*dist)
	if err != nil {
		log.Fatal(err)
	}
	created, err := time.Parse(time.RFC3339, meta.Date)
	if err != nil {
		created = time.Unix(0, 0).UTC()
	}
	labels := map[string]string{
		"org.opencontainers.image.title":    "secr",
		"org.opencontainers.image.source":   source,
		"org.opencontainers.image.version":  meta.Version,
		"org.opencontainers.image.revision": meta.Commit,
		"org.opencontainers.image.licenses": "Apache-2.0",
		"org.opencontainers.image.created":  created.Format(time.RFC3339),
	}
	if *base == "" {
		log.Printf("building the base offline (root and nonroot users, CA certificates from this machine): no --base image")
	}

	idx := mutate.IndexMediaType(empty.Index, types.OCIImageIndex)
	images := map[string]v1.Image{}
	for _, b := range bins {
		img, err := baseImage(*base, b.Goarch)
		if err != nil {
			log.Fatal(err)
		}
		layer, err := binaryLayer(b.paths)
		if err != nil {
			log.Fatal(err)
		}
		if img, err = mutate.Append(img, mutate.Addendum{Layer: layer, History: v1.History{CreatedBy: "ociimage: /secr and /secr-server " + meta.Version + ", /data", Created: v1.Time{Time: created}}}); err != nil {
			log.Fatal(err)
		}
		cf, err := img.ConfigFile()
		if err != nil {
			log.Fatal(err)
		}
		cf = cf.DeepCopy()
		cf.Architecture, cf.OS = b.Goarch, "linux"
		cf.Created = v1.Time{Time: created}
		cf.Config.User = fmt.Sprintf("%d:%d", uid, gid)
		cf.Config.Entrypoint = []string{"/secr"}
		cf.Config.Cmd = []string{"--help"}
		cf.Config.WorkingDir = "/home/nonroot"
		cf.Config.ExposedPorts = map[string]struct{}{"7700/tcp": {}}
		if cf.Config.Labels == nil {
			cf.Config.Labels = map[string]string{}
		}
		for k, v := range labels {
			cf.Config.Labels[k] = v
		}
		if img, err = mutate.ConfigFile(img, cf); err != nil {
			log.Fatal(err)
		}
		images[b.Goarch] = img
		idx = mutate.AppendManifests(idx, mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: b.Goarch}}})
	}
	idx = mutate.Annotations(idx, labels).(v1.ImageIndex)

	if len(push) > 0 {
		d, err := idx.Digest()
		if err != nil {
			log.Fatal(err)
		}
		for _, r := range push {
			ref, err := name.ParseReference(r)
			if err != nil {
				log.Fatal(err)
			}
			if err := remote.WriteIndex(ref, idx, remote.WithAuthFromKeychain(authn.DefaultKeychain)); err != nil {
				log.Fatalf("push %s: %v", r, err)
			}
			log.Printf("pushed %s@%s", r, d)
		}
		if *digestFile != "" {
			if err := os.WriteFile(*digestFile, []byte(d.String()+"\n"), 0o644); err != nil {
				log.Fatal(err)
			}
		}
		fmt.Println(d)
		return
	}

	// The OCI layout, tarred.
	dir, err := os.MkdirTemp("", "ociimage-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	// index.json names one multi-arch index, as `docker buildx` writes an
	// OCI layout: skopeo, crane and containerd take it as one image.
	p, err := layout.Write(dir, empty.Index)
	if err != nil {
		log.Fatal(err)
	}
	if err := p.AppendIndex(idx, layout.WithAnnotations(map[string]string{
		"org.opencontainers.image.ref.name": meta.Version,
		"io.containerd.image.name":          "ghcr.io/secr-dev/secr:" + meta.Version,
	})); err != nil {
		log.Fatal(err)
	}
	out := filepath.Join(*dist, fmt.Sprintf("secr_%s_oci.tar", meta.Version))
	if err := tarDir(dir, out); err != nil {
		log.Fatal(err)
	}
	fmt.Println(out)
	for arch, img := range images {
		tag, err := name.NewTag("ghcr.io/secr-dev/secr:" + strings.ReplaceAll(meta.Version, "+", "_") + "-" + arch)
		if err != nil {
			log.Fatal(err)
		}
		out := filepath.Join(*dist, fmt.Sprintf("secr_%s_linux_%s.docker.tar", meta.Version, arch))
		if err := tarball.WriteToFile(out, tag, img); err != nil {
			log.Fatal(err)
		}
		fmt.Println(out)
	}
}

func readDist(dist string) (metadata, []archBinaries, error) {
	var meta metadata
	data, err := os.ReadFile(filepath.Join(dist, "metadata.json"))
	if err != nil {
		return meta, nil, fmt.Errorf("run goreleaser first: %w", err)
	}
	if err := json.Unmarshal(data, &meta); err != nil {
		return meta, nil, err
	}
	if data, err = os.ReadFile(filepath.Join(dist, "artifacts.json")); err != nil {
		return meta, nil, err
	}
	var all []artifact
	if err := json.Unmarshal(data, &all); err != nil {
		return meta, nil, err
	}
	byArch := map[string]map[string]string{}
	for _, a := range all {
		if a.Type == "Binary" && a.Goos == "linux" && (a.Goarch == "amd64" || a.Goarch == "arm64") && slices.Contains(programs, a.Name) {
			if byArch[a.Goarch] == nil {
				byArch[a.Goarch] = map[string]string{}
			}
			byArch[a.Goarch][a.Name] = a.Path
		}
	}
	if len(byArch) == 0 {
		return meta, nil, fmt.Errorf("no linux binary in %s/artifacts.json", dist)
	}
	var bins []archBinaries
	for _, arch := range slices.Sorted(maps.Keys(byArch)) {
		for _, name := range programs {
			if byArch[arch][name] == "" {
				return meta, nil, fmt.Errorf("no linux/%s %s in %s/artifacts.json", arch, name, dist)
			}
		}
		bins = append(bins, archBinaries{Goarch: arch, paths: byArch[arch]})
	}
	return meta, bins, nil
}

// baseImage is the base for one architecture: pulled, or built offline.
func baseImage(ref, arch string) (v1.Image, error) {
	if ref != "" {
		r, err := name.ParseReference(ref)
		if err != nil {
			return nil, err
		}
		img, err := remote.Image(r, remote.WithPlatform(v1.Platform{OS: "linux", Architecture: arch}), remote.WithAuthFromKeychain(authn.DefaultKeychain))
		if err != nil {
			return nil, fmt.Errorf("pull %s for linux/%s: %w (--base=\"\" builds an equivalent base offline)", ref, arch, err)
		}
		return img, nil
	}
	var b tarBuilder
	b.dir("etc/", 0o755, 0, 0)
	b.file("etc/passwd", 0o644, 0, 0, "root:x:0:0:root:/root:/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n")
	b.file("etc/group", 0o644, 0, 0, "root:x:0:\nnobody:x:65534:\nnonroot:x:65532:\n")
	b.file("etc/nsswitch.conf", 0o644, 0, 0, "hosts: files dns\n")
	if certs, err := os.ReadFile("/etc/ssl/certs/ca-certificates.crt"); err == nil {
		b.dir("etc/ssl/", 0o755, 0, 0)
		b.dir("etc/ssl/certs/", 0o755, 0, 0)
		b.file("etc/ssl/certs/ca-certificates.crt", 0o644, 0, 0, string(certs))
	} else {
		log.Printf("no CA certificates on this machine (%v): the offline base has none", err)
	}
	b.dir("home/", 0o755, 0, 0)
	b.dir("home/nonroot/", 0o700, uid, gid)
	b.dir("root/", 0o700, 0, 0)
	b.dir("tmp/", 0o1777, 0, 0)
	layer, err := b.layer()
	if err != nil {
		return nil, err
	}
	img := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	img, err = mutate.Append(img, mutate.Addendum{Layer: layer, History: v1.History{CreatedBy: "ociimage: offline base"}})
	if err != nil {
		return nil, err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	cf.Config.Env = []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt"}
	return mutate.ConfigFile(img, cf)
}

// binaryLayer holds the programs (name to path: secr and secr-server) and
// an empty /data owned by the runtime user, so that a named volume mounted
// there starts out writable by it.
func binaryLayer(paths map[string]string) (v1.Layer, error) {
	var b tarBuilder
	for _, name := range programs {
		bin, err := os.ReadFile(paths[name])
		if err != nil {
			return nil, err
		}
		b.file(name, 0o755, 0, 0, string(bin))
	}
	b.dir("data/", 0o700, uid, gid)
	return b.layer()
}

type tarBuilder struct {
	buf bytes.Buffer
	tw  *tar.Writer
	err error
}

func (b *tarBuilder) add(h *tar.Header, body string) {
	if b.tw == nil {
		b.tw = tar.NewWriter(&b.buf)
	}
	if b.err != nil {
		return
	}
	h.Format = tar.FormatPAX
	h.ModTime = time.Unix(0, 0)
	if b.err = b.tw.WriteHeader(h); b.err == nil && body != "" {
		_, b.err = io.WriteString(b.tw, body)
	}
}

func (b *tarBuilder) dir(name string, mode int64, u, g int) {
	b.add(&tar.Header{Typeflag: tar.TypeDir, Name: name, Mode: mode, Uid: u, Gid: g}, "")
}

func (b *tarBuilder) file(name string, mode int64, u, g int, body string) {
	b.add(&tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: mode, Uid: u, Gid: g, Size: int64(len(body))}, body)
}

func (b *tarBuilder) layer() (v1.Layer, error) {
	if b.err == nil {
		b.err = b.tw.Close()
	}
	if b.err != nil {
		return nil, b.err
	}
	data := b.buf.Bytes()
	return tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil },
		tarball.WithMediaType(types.OCILayer))
}

// tarDir writes the files under dir into a tar file, sorted, with fixed times.
func tarDir(dir, out string) error {
	f, err := os.Create(out)
	if err != nil {
		return err
	}
	tw := tar.NewWriter(f)
	err = filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || p == dir {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		info, err := d.Info()
		if err != nil {
			return err
		}
		h, err := tar.FileInfoHeader(info, "")
		if err != nil {
			return err
		}
		h.Name, h.ModTime, h.Uid, h.Gid, h.Uname, h.Gname = filepath.ToSlash(rel), time.Unix(0, 0), 0, 0, "", ""
		if d.IsDir() {
			h.Name += "/"
		}
		if err := tw.WriteHeader(h); err != nil || d.IsDir() {
			return err
		}
		src, err := os.Open(p)
		if err != nil {
			return err
		}
		defer src.Close()
		_, err = io.Copy(tw, src)
		return err
	})
	if err == nil {
		err = tw.Close()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }
