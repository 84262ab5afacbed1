package cli

import (
	"context"
	"fmt"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/secr-dev/secr/internal/session"
)

type diffOptions struct {
	d       *Deps
	f       targetFlags
	reveal  bool
	jsonOut bool
}

func newSecretsDiffCmd(d *Deps) *cobra.Command {
	o := &diffOptions{d: d}
	c := &cobra.Command{
		Use:   "diff [REV_A [REV_B]]",
		Short: "Show what changed between two revisions (values hidden unless --reveal)",
		Long: `Compare two revisions of the environment: the names added (+), changed (~)
and removed (-) from REV_A to REV_B. With no revision, the latest against the
one before it; with one, REV_A against the latest. Values are shown only with
--reveal. Use it before 'secr secrets rollback'.`,
		Example: "  secr secrets diff\n  secr secrets diff 3\n  secr secrets diff 3 5 --reveal",
		Args: func(c *cobra.Command, args []string) error {
			if len(args) > 2 {
				return usageErrorf("give at most two revisions (see 'secr secrets diff --help')")
			}
			return nil
		},
		RunE: func(c *cobra.Command, args []string) error {
			o.f.bind(c)
			return runDiff(c.Context(), o, args)
		},
	}
	o.f.addEnv(c)
	c.Flags().BoolVar(&o.reveal, "reveal", false, "show the values")
	c.Flags().BoolVar(&o.jsonOut, "json", false, "print as JSON")
	return c
}

func runDiff(ctx context.Context, o *diffOptions, args []string) error {
	revs := make([]int64, len(args))
	for i, a := range args {
		n, err := strconv.ParseInt(a, 10, 64)
		if err != nil || n < 1 {
			return usageErrorf("invalid revision %q: give a number from 'secr secrets history'", a)
		}
		revs[i] = n
	}
	s, t, err := o.d.authenticate(&o.f)
	if err != nil {
		return err
	}
	latest, err := s.Load(ctx, t)
	if err != nil {
		return err
	}
	from, to := latest.Revision-1, latest.Revision
	switch len(revs) {
	case 1:
		from = revs[0]
	case 2:
		from, to = revs[0], revs[1]
	}
	if from < 1 || to < 1 {
		return usageErrorf("environment %q has %d revision(s): nothing to compare", latest.Name, latest.Revision)
	}
	a, err := s.LoadRevision(ctx, t, from)
	if err != nil {
		return err
	}
	b := latest
	if to != latest.Revision {
		if b, err = s.LoadRevision(ctx, t, to); err != nil {
			return err
		}
	}
	changes := session.Diff(a, b)
	value := func(e *session.Env, name string) string {
		sec, _ := e.Lookup(name)
		return sec.Value
	}
	if o.jsonOut {
		type change struct {
			Name string  `json:"name"`
			From *string `json:"from,omitempty"`
			To   *string `json:"to,omitempty"`
		}
		reveal := func(e *session.Env, n string) *string {
			if !o.reveal {
				return nil
			}
			v := value(e, n)
			return &v
		}
		out := map[string]any{"environment": b.Name, "from": from, "to": to, "added": []change{}, "changed": []change{}, "removed": []change{}}
		for _, n := range changes.Added {
			out["added"] = append(out["added"].([]change), change{Name: n, To: reveal(b, n)})
		}
		for _, n := range changes.Changed {
			out["changed"] = append(out["changed"].([]change), change{Name: n, From: reveal(a, n), To: reveal(b, n)})
		}
		for _, n := range changes.Removed {
			out["removed"] = append(out["removed"].([]change), change{Name: n, From: reveal(a, n)})
		}
		return o.d.IO.JSON(out)
	}
	shown := func(e *session.Env, n string) string {
		if !o.reveal {
			return "••••••••"
		}
		return displayValue(value(e, n))
	}
	w := o.d.IO.Out
	o.d.IO.Infof("Revision %d → %d of %s:", from, to, b.Name)
	for _, n := range changes.Added {
		fmt.Fprintf(w, "+ %s=%s\n", n, shown(b, n))
	}
	for _, n := range changes.Changed {
		fmt.Fprintf(w, "~ %s: %s → %s\n", n, shown(a, n), shown(b, n))
	}
	for _, n := range changes.Removed {
		fmt.Fprintf(w, "- %s=%s\n", n, shown(a, n))
	}
	if len(changes.Added)+len(changes.Changed)+len(changes.Removed) == 0 {
		o.d.IO.Infof("(no changes)")
	}
	return nil
}
