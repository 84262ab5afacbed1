package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/secr-dev/secr/internal/store"
)

// pendingForHolder is ResolveEnv's column for EnvAccess.Pending (its one
// placeholder is the principal): is there pending work in the org on an
// environment whose current key version the principal holds? One index
// probe on pending_org when there is none.
const pendingForHolder = `EXISTS (SELECT 1 FROM pending pw
			JOIN environments pe ON pe.id = pw.env_id
			JOIN grants pg ON pg.env_id = pw.env_id AND pg.principal_id = ? AND pg.key_version = pe.key_version
			WHERE pw.org_id = o.id)`

const inviteCols = `i.id, i.org_id, i.email, i.role, i.envs, i.inviter, i.sealed_secret, i.status, i.principal, i.mac, i.expires_at, i.created_at`

func (s *Store) CreateInvite(ctx context.Context, inv store.Invite) error {
	return s.exec(ctx, s.db, `INSERT INTO invites (id, org_id, email, role, envs, inviter, sealed_secret, status, expires_at, created_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		inv.ID, inv.OrgID, inv.Email, inv.Role, strings.Join(inv.Envs, ","), inv.Inviter, inv.SealedSecret, store.InviteOpen, ms(inv.ExpiresAt), ms(inv.CreatedAt))
}

func (s *Store) scanInvites(rows *sql.Rows, err error) ([]store.Invite, error) {
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []store.Invite
	for rows.Next() {
		var inv store.Invite
		var envs string
		var exp, created int64
		var email sql.NullString
		if err := rows.Scan(&inv.ID, &inv.OrgID, &inv.Email, &inv.Role, &envs, &inv.Inviter, &inv.SealedSecret, &inv.Status, &inv.Principal, &inv.MAC, &exp, &created, &email); err != nil {
			return nil, err
		}
		if envs != "" {
			inv.Envs = strings.Split(envs, ",")
		}
		inv.InviterEmail, inv.ExpiresAt, inv.CreatedAt = email.String, fromMS(exp), fromMS(created)
		out = append(out, inv)
	}
	return out, rows.Err()
}

func (s *Store) InviteByID(ctx context.Context, id string) (store.Invite, error) {
	invs, err := s.scanInvites(s.read(ctx, `SELECT `+inviteCols+`, u.email FROM invites i LEFT JOIN users u ON u.id = i.inviter WHERE i.id = ?`, id))
	if err != nil {
		return store.Invite{}, err
	}
	if len(invs) == 0 {
		return store.Invite{}, store.ErrNotFound
	}
	return invs[0], nil
}

func (s *Store) Invites(ctx context.Context, orgID string, now time.Time) ([]store.Invite, error) {
	return s.scanInvites(s.read(ctx, `SELECT `+inviteCols+`, u.email FROM invites i LEFT JOIN users u ON u.id = i.inviter
		WHERE i.org_id = ? AND i.expires_at > ? ORDER BY i.created_at, i.id`, orgID, ms(now)))
}

func (s *Store) DeleteInvite(ctx context.Context, orgID, id string) error {
	res, err := s.db.ExecContext(ctx, s.q(`DELETE FROM invites WHERE org_id = ? AND id = ?`), orgID, id)
	if err != nil {
		return s.classify(err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return store.ErrNotFound
	}
	return nil
}

func (s *Store) AcceptInvite(ctx context.Context, id string, principal, mac []byte, now time.Time) error {
	res, err := s.db.ExecContext(ctx, s.q(`UPDATE invites SET status = ?, principal = ?, mac = ?
		WHERE id = ? AND status = ? AND expires_at > ?`), store.InviteAccepted, principal, mac, id, store.InviteOpen, ms(now))
	if err != nil {
		return s.classify(err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return store.ErrNotFound
	}
	return nil
}

func (s *Store) Members(ctx context.Context, orgID string) ([]store.MemberInfo, error) {
	rows, err := s.read(ctx, `SELECT m.org_id, m.user_id, m.role, m.created_at, u.email FROM members m
		JOIN users u ON u.id = m.user_id WHERE m.org_id = ? ORDER BY m.created_at, u.email`, orgID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []store.MemberInfo
	for rows.Next() {
		var m store.MemberInfo
		var created int64
		if err := rows.Scan(&m.OrgID, &m.UserID, &m.Role, &created, &m.Email); err != nil {
			return nil, err
		}
		m.CreatedAt = fromMS(created)
		out = append(out, m)
	}
	return out, rows.Err()
}

func (s *Store) OrgEnvironments(ctx context.Context, orgID string) ([]store.Environment, error) {
	return s.scanEnvs(s.read(ctx, `SELECT e.id, e.project_id, e.name, e.key_version, e.created_at
		FROM environments e JOIN projects p ON p.id = e.project_id WHERE p.org_id = ? ORDER BY e.created_at, e.id`, orgID))
}

func (s *Store) Pending(ctx context.Context, orgID string) ([]store.PendingWork, error) {
	rows, err := s.read(ctx, `SELECT org_id, env_id, principal_id, key_version FROM pending WHERE org_id = ? ORDER BY env_id, principal_id`, orgID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []store.PendingWork
	for rows.Next() {
		var w store.PendingWork
		if err := rows.Scan(&w.OrgID, &w.EnvID, &w.PrincipalID, &w.KeyVersion); err != nil {
			return nil, err
		}
		out = append(out, w)
	}
	return out, rows.Err()
}

// orgEnvFilter limits a statement on grants to the environments of the
// org named by its one placeholder.
const orgEnvFilter = `env_id IN (SELECT e.id FROM environments e JOIN projects p ON p.id = e.project_id WHERE p.org_id = ?)`

func (s *Store) ApplyOrgChange(ctx context.Context, c store.OrgChange) error {
	err := s.tx(ctx, func(tx *sql.Tx) error {
		if c.Chain != nil {
			if c.Chain.OrgID != c.OrgID {
				return fmt.Errorf("org change of %q appends to the chain of %q", c.OrgID, c.Chain.OrgID)
			}
			if err := s.appendChain(ctx, tx, *c.Chain); err != nil {
				return err
			}
		} else {
			// Takes the org row's lock (PostgreSQL) as an append does, so a
			// concurrent append waits for this change or makes it fail.
			res, err := tx.ExecContext(ctx, s.q(`UPDATE orgs SET head_seq = head_seq WHERE id = ? AND head_seq = ?`), c.OrgID, int64(c.HeadSeq))
			if err != nil {
				return s.classify(err)
			}
			if n, _ := res.RowsAffected(); n == 0 {
				return store.ErrChainMoved
			}
		}
		if c.Invite != "" {
			res, err := tx.ExecContext(ctx, s.q(`DELETE FROM invites WHERE id = ? AND org_id = ? AND status = ?`), c.Invite, c.OrgID, store.InviteAccepted)
			if err != nil {
				return s.classify(err)
			}
			if n, _ := res.RowsAffected(); n == 0 {
				return store.ErrNotFound
			}
		}
		for _, m := range c.AddMembers {
			if err := s.exec(ctx, tx, `INSERT INTO members (org_id, user_id, role, created_at) VALUES (?, ?, ?, ?)`,
				c.OrgID, m.UserID, m.Role, ms(m.CreatedAt)); err != nil {
				return err
			}
		}
		for _, m := range c.SetRoles {
			if err := s.exec(ctx, tx, `UPDATE members SET role = ? WHERE org_id = ? AND user_id = ?`, m.Role, c.OrgID, m.UserID); err != nil {
				return err
			}
		}
		for _, id := range c.RemoveMembers {
			if err := s.exec(ctx, tx, `DELETE FROM members WHERE org_id = ? AND user_id = ?`, c.OrgID, id); err != nil {
				return err
			}
			if err := s.exec(ctx, tx, `DELETE FROM grants WHERE principal_id = ? AND `+orgEnvFilter, id, c.OrgID); err != nil {
				return err
			}
		}
		for _, g := range c.RevokeGrants {
			if err := s.exec(ctx, tx, `DELETE FROM grants WHERE env_id = ? AND principal_id = ?`, g.EnvID, g.PrincipalID); err != nil {
				return err
			}
		}
		for _, id := range c.RevokeTokens {
			if err := s.exec(ctx, tx, `DELETE FROM tokens WHERE id = ?`, id); err != nil {
				return err
			}
			if err := s.exec(ctx, tx, `DELETE FROM grants WHERE principal_id = ?`, id); err != nil {
				return err
			}
		}
		for _, r := range c.Rotations {
			if err := s.rotate(ctx, tx, r); err != nil {
				return err
			}
		}
		for _, g := range c.Grants {
			if err := s.exec(ctx, tx, `INSERT INTO grants (env_id, principal_id, key_version, signed_grant) VALUES (?, ?, ?, ?)
				ON CONFLICT (env_id, principal_id, key_version) DO UPDATE SET signed_grant = excluded.signed_grant`,
				g.EnvID, g.PrincipalID, g.KeyVersion, g.Signed); err != nil {
				return err
			}
		}
		if err := s.recomputePending(ctx, tx, c); err != nil {
			return err
		}
		for _, id := range c.Notify {
			if err := s.notifyAccess(ctx, tx, id); err != nil {
				return err
			}
		}
		return nil
	})
	return err
}

// rotate moves an environment to r.Version and appends r.Revision.
func (s *Store) rotate(ctx context.Context, tx *sql.Tx, r store.Rotation) error {
	res, err := tx.ExecContext(ctx, s.q(`UPDATE environments SET key_version = ? WHERE id = ? AND key_version = ?`), r.Version, r.EnvID, r.Version-1)
	if err != nil {
		return s.classify(err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return store.ErrConflict
	}
	if r.Revision == nil {
		return nil
	}
	rev := r.Revision
	var latest int64
	if err := tx.QueryRowContext(ctx, s.q(`SELECT COALESCE(MAX(revision), 0) FROM revisions WHERE env_id = ?`), r.EnvID).Scan(&latest); err != nil {
		return err
	}
	if rev.EnvID != r.EnvID || rev.Revision != latest+1 {
		return store.ErrConflict
	}
	err = s.exec(ctx, tx, `INSERT INTO revisions (`+revCols+`) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		rev.EnvID, rev.Revision, rev.KeyVersion, rev.Header, rev.Ciphertext, rev.AuthorID, ms(rev.CreatedAt))
	if errors.Is(err, store.ErrExists) {
		return store.ErrConflict
	}
	if err != nil {
		return err
	}
	if s.dialect == postgres {
		_, err := tx.ExecContext(ctx, `SELECT pg_notify('secr_revisions', $1)`, fmt.Sprintf("%s:%d", rev.EnvID, rev.Revision))
		return err
	}
	return nil
}

// recomputePending recomputes the pending grants of c.Readers'
// environments and the pending rotations c changes.
func (s *Store) recomputePending(ctx context.Context, tx *sql.Tx, c store.OrgChange) error {
	for _, r := range c.Rotations {
		if err := s.exec(ctx, tx, `DELETE FROM pending WHERE env_id = ? AND principal_id = ''`, r.EnvID); err != nil {
			return err
		}
	}
	for _, env := range c.NewRotations {
		if err := s.exec(ctx, tx, `INSERT INTO pending (org_id, env_id, principal_id, key_version)
			SELECT ?, id, '', key_version FROM environments WHERE id = ?
			ON CONFLICT (env_id, principal_id) DO UPDATE SET key_version = excluded.key_version`, c.OrgID, env); err != nil {
			return err
		}
	}
	for env, readers := range c.Readers {
		if err := s.exec(ctx, tx, `DELETE FROM pending WHERE env_id = ? AND principal_id <> ''`, env); err != nil {
			return err
		}
		for _, p := range readers {
			if err := s.exec(ctx, tx, `INSERT INTO pending (org_id, env_id, principal_id, key_version)
				SELECT ?, e.id, ?, e.key_version FROM environments e WHERE e.id = ? AND NOT EXISTS
					(SELECT 1 FROM grants g WHERE g.env_id = e.id AND g.principal_id = ? AND g.key_version = e.key_version)`,
				c.OrgID, p, env, p); err != nil {
				return err
			}
		}
	}
	return nil
}
