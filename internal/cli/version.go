package cli

import (
	"context"
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/spf13/cobra"
)

// Version is secr's version, set at build time with
// -ldflags "-X github.com/secr-dev/secr/internal/cli.Version=1.2.3". When it
// is not set, buildVersion reads what the Go toolchain recorded.
var Version = ""

// buildVersion is Version, or else the module version `go install
// pkg@version` records, or else the VCS revision `go build` in a checkout
// records ("devel-1a2b3c4d5e6f", "-dirty" with local changes).
func buildVersion() string {
	if Version != "" {
		return Version
	}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown"
	}
	if v := bi.Main.Version; v != "" && v != "(devel)" {
		return v
	}
	var rev, dirty string
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			if s.Value == "true" {
				dirty = "-dirty"
			}
		}
	}
	if rev == "" {
		return "devel"
	}
	return "devel-" + rev[:min(12, len(rev))] + dirty
}

type versionOptions struct {
	d       *Deps
	jsonOut bool
}

func newVersionCmd(d *Deps) *cobra.Command {
	o := &versionOptions{d: d}
	c := &cobra.Command{
		Use:   "version",
		Short: "Print secr's version",
		Args:  cobra.NoArgs,
		RunE:  func(c *cobra.Command, _ []string) error { return runVersion(c.Context(), o) },
	}
	c.Flags().BoolVar(&o.jsonOut, "json", false, "print as JSON")
	return c
}

func runVersion(_ context.Context, o *versionOptions) error {
	if o.jsonOut {
		return o.d.IO.JSON(map[string]string{"version": buildVersion(), "go": runtime.Version(), "os": runtime.GOOS, "arch": runtime.GOARCH})
	}
	_, err := fmt.Fprintf(o.d.IO.Out, "secr %s (%s, %s/%s)\n", buildVersion(), runtime.Version(), runtime.GOOS, runtime.GOARCH)
	return err
}
