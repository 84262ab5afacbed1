package cli

import (
	"context"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/secr-dev/secr/internal/client"
	"github.com/secr-dev/secr/internal/session"
)

type auditOptions struct {
	d       *Deps
	f       targetFlags
	env     string
	since   string
	jsonOut bool
	now     func() time.Time
}

func newAuditCmd(d *Deps) *cobra.Command {
	o := &auditOptions{d: d, now: time.Now}
	c := &cobra.Command{
		Use:   "audit",
		Short: "Show the org's audit log: sign-ins, reads, writes and changes (owners and admins)",
		Long: `Show the org's audit log: who signed in, who read which environment (which
revision, from which address, with which secr command), every write and
rollback, and every project, environment and token change, oldest first.

The server keeps the log, and it is server-trusted: entries are hash-chained
so that a row edited or deleted in the database afterwards is found by
'secr audit verify', but a server that lies can leave entries out. The
client address, version and command are recorded as the client sent them.`,
		Example: `  secr audit --since 24h
  secr audit --env production --json
  secr audit verify`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			o.f.bind(c)
			return runAudit(c.Context(), o)
		},
	}
	o.f.addProject(c)
	c.Flags().StringVarP(&o.env, "env", "e", "", "only this environment: ENV (in --project or .secr.json's project, if any) or PROJECT/ENV")
	c.Flags().StringVar(&o.since, "since", "", "only entries from the last 12h, 30d, 2w, or since a date (2026-12-31) or RFC 3339 time")
	c.Flags().BoolVar(&o.jsonOut, "json", false, "print as JSON, with each entry's hash")
	c.AddCommand(newAuditVerifyCmd(d))
	return c
}

// parseSince accepts a duration back from now (12h, 30d, 2w), or a date
// or RFC 3339 time.
func parseSince(s string, now time.Time) (time.Time, error) {
	units := map[byte]time.Duration{'m': time.Minute, 'h': time.Hour, 'd': 24 * time.Hour, 'w': 7 * 24 * time.Hour}
	if len(s) > 1 {
		if unit, ok := units[s[len(s)-1]]; ok {
			if n, err := strconv.Atoi(s[:len(s)-1]); err == nil && n > 0 {
				return now.Add(-time.Duration(n) * unit), nil
			}
		}
	}
	if t, err := time.Parse("2006-01-02", s); err == nil {
		return t, nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	return time.Time{}, usageErrorf("invalid --since %q: use a duration like 24h, 30d or 2w, or a date like 2026-12-31", s)
}

func (d *Deps) auditSession(f *targetFlags) (*session.Session, session.Target, error) {
	s, t, err := d.userSession(f)
	if err != nil {
		return nil, t, err
	}
	if s.IsServiceToken() {
		return nil, t, usageErrorf("a service token cannot read the audit log: unset SECR_TOKEN (and SECR_TOKEN_FILE) and log in as an org owner or admin")
	}
	return s, t, t.RequireOrg()
}

func runAudit(ctx context.Context, o *auditOptions) error {
	d := o.d
	s, t, err := d.auditSession(&o.f)
	if err != nil {
		return err
	}
	var q client.AuditQuery
	if o.since != "" {
		if q.Since, err = parseSince(o.since, o.now()); err != nil {
			return err
		}
	}
	if q.Env = o.env; q.Env != "" && !strings.Contains(q.Env, "/") && t.Project != "" {
		q.Env = t.Project + "/" + q.Env
	}
	l, err := s.AuditLog(ctx, t.Org, q)
	if err != nil {
		return err
	}
	if o.jsonOut {
		return d.IO.JSON(l)
	}
	rows := [][]string{}
	for _, e := range l.Entries {
		rev := ""
		if e.Revision > 0 {
			rev = strconv.FormatInt(e.Revision, 10)
		}
		env := strings.TrimPrefix(e.Env, l.Org+"/")
		if env == "" {
			env = "-"
		}
		cmd := e.Command
		if cmd == "" {
			cmd = "-"
		}
		rows = append(rows, []string{formatTime(e.At), e.Principal, e.Action, env, rev, cmd, e.Address})
	}
	if len(rows) == 0 {
		d.IO.Infof("No audit entries match.")
		return nil
	}
	return d.IO.Table([]string{"TIME", "WHO", "ACTION", "ENVIRONMENT", "REVISION", "COMMAND", "ADDRESS"}, rows)
}

type auditVerifyOptions struct {
	d *Deps
	f targetFlags
}

func newAuditVerifyCmd(d *Deps) *cobra.Command {
	o := &auditVerifyOptions{d: d}
	c := &cobra.Command{
		Use:   "verify",
		Short: "Recompute the audit log's hash chain and name the first entry edited or deleted",
		Long: `Fetch the org's whole retained audit log and recompute its hash chain on
this machine. A row edited in the database, or an entry deleted before
another, makes it fail with that entry's number (exit code 6).

This checks the log against after-the-fact edits by someone with access to
the database. It cannot catch the server itself omitting entries or
rewriting the whole chain: the audit log is server-trusted.`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			o.f.bind(c)
			return runAuditVerify(c.Context(), o)
		},
	}
	o.f.addOrg(c)
	return c
}

func runAuditVerify(ctx context.Context, o *auditVerifyOptions) error {
	s, t, err := o.d.auditSession(&o.f)
	if err != nil {
		return err
	}
	l, err := s.VerifyAudit(ctx, t.Org)
	if err != nil {
		return err
	}
	from := ""
	if l.CheckpointSeq > 0 {
		from = " (entries before " + strconv.FormatUint(l.CheckpointSeq+1, 10) + " were removed by the server's retention)"
	}
	o.d.IO.Infof("Audit log of org %s verified: %d entries chain correctly%s.", l.Org, len(l.Entries), from)
	return nil
}
