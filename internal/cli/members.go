package cli

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/secr-dev/secr/internal/session"
)

// teamOptions are the options of the members, invites and access commands.
type teamOptions struct {
	d       *Deps
	f       targetFlags
	jsonOut bool
}

func newMembersCmd(d *Deps) *cobra.Command {
	return groupCmd("members", "Invite, list, change and remove the members of an org",
		`Who is in an org, with which role, is what its org chain says: every change
is an entry signed by the owner or admin who makes it, which every member's
client verifies. Roles: owner and admin manage members, access and tokens;
developer reads and writes the environments they were granted and makes
tokens for them; viewer reads only. See docs/teams.md.`,
		newMembersInviteCmd(d), newMembersInvitesCmd(d), newMembersListCmd(d), newMembersRoleCmd(d),
		newMembersRemoveCmd(d), newMembersVerifyCmd(d))
}

func newMembersInviteCmd(d *Deps) *cobra.Command {
	o := &teamOptions{d: d}
	var role, envs, expires string
	c := &cobra.Command{
		Use:   "invite EMAIL --role ROLE [--env development,staging]",
		Short: "Invite someone; prints a one-time code to hand over out of band",
		Long: `Invite someone to the org. The printed code holds a secret the server never
sees: hand it over yourself (in person, or a chat you trust). The invitee runs
'secr invites accept CODE'; your client then checks, with that secret, that
the identity the server relays is really theirs before it adds them, so the
server cannot slip in a key of its own. It does that the next time you run
any secr command other than run, export or secrets get (or 'secr members
invites'). --env gives access to those environments of the project (write
for owners, admins and developers; read for viewers).`,
		Example: `  secr members invite bob@example.com --role developer --env development
  secr members invite carol@example.com --role admin --env development,staging --expires 2d`,
		Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			o.f.bind(c)
			return runMembersInvite(c.Context(), o, args[0], role, envs, expires)
		},
	}
	o.f.addProject(c)
	c.Flags().StringVar(&role, "role", "", "owner, admin, developer or viewer (required)")
	c.Flags().StringVar(&envs, "env", "", "comma-separated environments of the project to give access to")
	c.Flags().StringVar(&expires, "expires", "7d", "how long the code is valid: 12h, 3d, 2w (at most 30 days)")
	c.Flags().BoolVar(&o.jsonOut, "json", false, `print {"code": ..., "expires_at": ...}`)
	return c
}

func runMembersInvite(ctx context.Context, o *teamOptions, email, roleName, envs, expires string) error {
	if roleName == "" {
		return usageErrorf("--role is required: owner, admin, developer or viewer")
	}
	role, err := session.ParseRole(roleName)
	if err != nil {
		return err
	}
	now := time.Now()
	exp, err := parseExpiry(expires, now)
	if err != nil {
		return err
	}
	s, t, err := o.d.userSession(&o.f)
	if err != nil {
		return err
	}
	req := session.InviteRequest{Email: email, Role: role, Project: t.Project, Expires: exp.Sub(now)}
	if envs != "" {
		if t.Project == "" {
			return usageErrorf("--env needs a project: pass --project or run in a directory with .secr.json")
		}
		req.Envs = strings.Split(envs, ",")
	}
	o.d.syncQuietly(ctx, s, t.Org)
	res, err := s.Invite(ctx, t.Org, req)
	if err != nil {
		return err
	}
	if o.jsonOut {
		return o.d.IO.JSON(map[string]any{"code": res.Code, "expires_at": res.ExpiresAt})
	}
	o.d.IO.Infof("Invited %s to %s as %s, until %s. Hand this code to them yourself (not by email from the server):", res.Email, t.Org, res.Role, res.ExpiresAt.Local().Format("2006-01-02 15:04"))
	fmt.Fprintln(o.d.IO.Out, res.Code)
	o.d.IO.Infof("They run: secr invites accept CODE. Your safety number, for them to compare: %s", res.InviterSafetyNumber)
	return nil
}

func newMembersInvitesCmd(d *Deps) *cobra.Command {
	o := &teamOptions{d: d}
	var revoke string
	c := &cobra.Command{
		Use:   "invites [--revoke EMAIL]",
		Short: "List open invites, and add those who accepted",
		Long: `List the org's open and accepted invites. Accepted invites you made are
checked against their secret and the invitees added (an identity that does
not match its invite is refused, exit code 6, and the invite revoked).`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			o.f.bind(c)
			return runMembersInvites(c.Context(), o, revoke)
		},
	}
	o.f.addOrg(c)
	c.Flags().StringVar(&revoke, "revoke", "", "revoke the open invite for this email (or invite ID)")
	c.Flags().BoolVar(&o.jsonOut, "json", false, "print as JSON")
	return c
}

func runMembersInvites(ctx context.Context, o *teamOptions, revoke string) error {
	s, t, err := o.d.userSession(&o.f)
	if err != nil {
		return err
	}
	if revoke != "" {
		if err := s.RevokeInvite(ctx, t.Org, revoke); err != nil {
			return err
		}
		o.d.IO.Infof("Revoked the invite for %s.", revoke)
		return nil
	}
	res, syncErr := s.Sync(ctx, t.Org)
	o.d.reportSync(res)
	invites, err := s.Invites(ctx, t.Org)
	if err != nil {
		return err
	}
	if o.jsonOut {
		if err := o.d.IO.JSON(invites); err != nil {
			return err
		}
		return syncErr
	}
	rows := [][]string{}
	for _, i := range invites {
		rows = append(rows, []string{i.Email, i.Role, i.Status, i.InviterEmail, formatTime(i.ExpiresAt)})
	}
	if err := o.d.IO.Table([]string{"EMAIL", "ROLE", "STATUS", "INVITED BY", "EXPIRES"}, rows); err != nil {
		return err
	}
	return syncErr
}

func newMembersListCmd(d *Deps) *cobra.Command {
	o := &teamOptions{d: d}
	c := &cobra.Command{
		Use:   "list",
		Short: "List the members, their roles, access and safety numbers (from the verified chain)",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			o.f.bind(c)
			s, t, err := o.d.userSession(&o.f)
			if err != nil {
				return err
			}
			o.d.syncQuietly(c.Context(), s, t.Org)
			ms, err := s.Members(c.Context(), t.Org)
			if err != nil {
				return err
			}
			if o.jsonOut {
				return o.d.IO.JSON(ms)
			}
			rows := [][]string{}
			for _, m := range ms {
				var acc []string
				for env, a := range m.Access {
					acc = append(acc, env+":"+a)
				}
				sort.Strings(acc)
				v := ""
				if m.Confirmed {
					v = "yes"
				}
				rows = append(rows, []string{m.Email, m.Role, strings.Join(acc, " "), v})
			}
			return o.d.IO.Table([]string{"MEMBER", "ROLE", "ACCESS", "VERIFIED"}, rows)
		},
	}
	o.f.addOrg(c)
	c.Flags().BoolVar(&o.jsonOut, "json", false, "print as JSON (with safety numbers)")
	return c
}

func newMembersRoleCmd(d *Deps) *cobra.Command {
	o := &teamOptions{d: d}
	c := &cobra.Command{
		Use:     "role EMAIL ROLE",
		Short:   "Change a member's role",
		Example: "  secr members role bob@example.com viewer",
		Args:    cobra.ExactArgs(2),
		RunE: func(c *cobra.Command, args []string) error {
			o.f.bind(c)
			role, err := session.ParseRole(args[1])
			if err != nil {
				return err
			}
			s, t, err := o.d.userSession(&o.f)
			if err != nil {
				return err
			}
			o.d.syncQuietly(c.Context(), s, t.Org)
			if err := s.SetRole(c.Context(), t.Org, args[0], role); err != nil {
				return err
			}
			o.d.IO.Infof("%s is now %s in %s.", args[0], role, t.Org)
			return nil
		},
	}
	o.f.addOrg(c)
	return c
}

func newMembersRemoveCmd(d *Deps) *cobra.Command {
	o := &teamOptions{d: d}
	c := &cobra.Command{
		Use:   "remove EMAIL",
		Short: "Remove a member, revoke their tokens and rotate the keys they held",
		Long: `Remove a member from the org. Their service tokens are revoked, and every
environment they could read gets a new key version: the newest revision is
re-sealed under it and the key wrapped to everyone who may still read it, so
nothing written from now on opens with what they held. The secret names they
could read are listed: rotate those values at their source too. Environments
whose key you do not hold stay pending until a key holder runs secr.`,
		Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			o.f.bind(c)
			s, t, err := o.d.userSession(&o.f)
			if err != nil {
				return err
			}
			res, err := s.RemoveMember(c.Context(), t.Org, args[0])
			if err != nil {
				return err
			}
			if o.jsonOut {
				return o.d.IO.JSON(res)
			}
			o.d.IO.Infof("Removed %s from %s.", args[0], t.Org)
			o.d.reportRemoval(args[0], res)
			return nil
		},
	}
	o.f.addOrg(c)
	c.Flags().BoolVar(&o.jsonOut, "json", false, "print what was rotated, pending and exposed as JSON")
	return c
}

// reportRemoval says what a removal or revocation rotated, left pending
// and exposed.
func (d *Deps) reportRemoval(who string, res session.RemoveResult) {
	for _, tok := range res.Tokens {
		d.IO.Infof("Revoked their service token %s.", tok)
	}
	for _, env := range res.Rotated {
		d.IO.Infof("Rotated the key of %s.", env)
	}
	for _, env := range res.Pending {
		d.IO.Infof("Pending: %s needs a new key; you do not hold its key, so the next key holder's secr does it ('secr access list' shows it).", env)
	}
	paths := make([]string, 0, len(res.Names))
	for p := range res.Names {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	for _, p := range paths {
		if len(res.Names[p]) > 0 {
			d.IO.Infof("%s could read %s: %s. Rotate these at their source.", who, p, strings.Join(res.Names[p], ", "))
		}
	}
}

func newMembersVerifyCmd(d *Deps) *cobra.Command {
	o := &teamOptions{d: d}
	var confirm bool
	c := &cobra.Command{
		Use:   "verify EMAIL [--confirm]",
		Short: "Show a member's safety number; --confirm records that you compared it",
		Long: `Print the member's safety number: a digest of their keys as the org chain
records them. Compare it with the one they see ('secr members verify' on
their side shows yours the same way) by voice, in person or in a chat you
trust. --confirm records that you did: from then on, a change of that
member's keys fails every command as an integrity error (exit code 6) until
you compare again.`,
		Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			o.f.bind(c)
			s, t, err := o.d.userSession(&o.f)
			if err != nil {
				return err
			}
			id, err := s.VerifyMember(c.Context(), t.Org, args[0], confirm)
			if err != nil {
				return err
			}
			if o.jsonOut {
				return o.d.IO.JSON(id)
			}
			fmt.Fprintf(o.d.IO.Out, "%s\n", id.SafetyNumber)
			switch {
			case confirm:
				o.d.IO.Infof("Recorded %s's keys as confirmed.", id.Email)
			case id.Confirmed:
				o.d.IO.Infof("You confirmed %s's keys before; they have not changed.", id.Email)
			default:
				o.d.IO.Infof("Compare this with %s out of band, then run: secr members verify %s --confirm", id.Email, id.Email)
			}
			return nil
		},
	}
	o.f.addOrg(c)
	c.Flags().BoolVar(&confirm, "confirm", false, "record that you compared the safety number out of band")
	c.Flags().BoolVar(&o.jsonOut, "json", false, "print as JSON")
	return c
}

func newInvitesCmd(d *Deps) *cobra.Command {
	return groupCmd("invites", "Accept an invitation to an org", "", newInvitesAcceptCmd(d))
}

func newInvitesAcceptCmd(d *Deps) *cobra.Command {
	o := &teamOptions{d: d}
	var email string
	var passwordStdin bool
	c := &cobra.Command{
		Use:   "accept CODE",
		Short: "Accept an invite code (signs up first with --email when you have no account)",
		Long: `Accept an invitation. Your client proves, with the secret in the code, that
the identity it sends is yours, and verifies the org from the anchor the code
carries. You become a member when the inviter's secr next runs. Compare the
inviter's safety number printed here with theirs.

Without a login on this server, pass --email to sign up first (the password is
asked without echo, or read with --password-stdin).`,
		Example: "  secr invites accept secr_inv_...\n  secr invites accept secr_inv_... --email bob@example.com",
		Args:    cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			o.f.bind(c)
			return runInvitesAccept(c.Context(), o, args[0], email, passwordStdin)
		},
	}
	c.Flags().StringVar(&email, "email", "", "sign up with this email first, when you have no account on this server")
	c.Flags().BoolVar(&passwordStdin, "password-stdin", false, "with --email: read the new password from stdin")
	c.Flags().BoolVar(&o.jsonOut, "json", false, "print as JSON")
	return c
}

func runInvitesAccept(ctx context.Context, o *teamOptions, code, email string, passwordStdin bool) error {
	s, _, err := o.d.authenticate(&o.f)
	if errors.Is(err, session.ErrNotLoggedIn) && email != "" {
		if err := runSignup(ctx, &accountOptions{d: o.d, f: o.f, email: email, passwordStdin: passwordStdin}); err != nil {
			return err
		}
		s, _, err = o.d.authenticate(&o.f)
	}
	if errors.Is(err, session.ErrNotLoggedIn) {
		return session.WithHint(err, "sign up first with --email you@example.com (or 'secr signup'), then accept")
	}
	if err != nil {
		return err
	}
	res, err := s.AcceptInvite(ctx, code)
	if err != nil {
		return err
	}
	if o.jsonOut {
		return o.d.IO.JSON(res)
	}
	o.d.IO.Infof("Accepted the invite to %s as %s. The org's anchor is %s (pinned).", res.Org, res.Role, res.Anchor)
	o.d.IO.Infof("Invited by %s, safety number %s: compare it with theirs.", res.Inviter, res.InviterSafetyNumber)
	o.d.IO.Infof("Your safety number: %s. You become a member when %s's secr next runs.", res.SafetyNumber, res.Inviter)
	return nil
}

// syncQuietly completes what this user's keys can in org (accepted
// invites, pending grants and rotations), with one line when it did
// something, and a warning instead of an error: it is not what the user
// asked for.
func (d *Deps) syncQuietly(ctx context.Context, s *session.Session, org string) {
	if org == "" || s.IsServiceToken() {
		return
	}
	res, err := s.Sync(ctx, org)
	d.reportSync(res)
	if err != nil {
		d.IO.Warnf("%v", err)
	}
}

// reportSync says in one line what a sync did.
func (d *Deps) reportSync(res session.SyncResult) {
	var parts []string
	if len(res.Added) > 0 {
		parts = append(parts, "added "+strings.Join(res.Added, ", ")+" (identity checked against the invite)")
	}
	if len(res.Refused) > 0 {
		parts = append(parts, "REFUSED "+strings.Join(res.Refused, ", ")+" (identity does not match the invite; invite revoked)")
	}
	if res.Grants > 0 {
		parts = append(parts, fmt.Sprintf("completed %d pending key grant(s)", res.Grants))
	}
	if res.Rotations > 0 {
		parts = append(parts, fmt.Sprintf("rotated %d pending key(s)", res.Rotations))
	}
	if len(parts) > 0 {
		d.IO.Infof("secr: %s.", strings.Join(parts, "; "))
	}
}
