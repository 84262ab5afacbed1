package client

import (
	"context"
	"net/http"

	"github.com/secr-dev/secr/internal/api"
)

// CreateInvite records an invitation to org.
func (c *Client) CreateInvite(ctx context.Context, org string, req api.CreateInviteRequest) (api.Invite, error) {
	var out api.Invite
	err := c.do(ctx, http.MethodPost, api.Path(api.InvitesRoute, org), req, &out)
	return out, err
}

// Invites lists org's open and accepted invitations.
func (c *Client) Invites(ctx context.Context, org string) ([]api.Invite, error) {
	var out []api.Invite
	err := c.do(ctx, http.MethodGet, api.Path(api.InvitesRoute, org), nil, &out)
	return out, err
}

// RevokeInvite revokes an open invitation.
func (c *Client) RevokeInvite(ctx context.Context, org, id string) error {
	return c.do(ctx, http.MethodDelete, api.Path(api.InviteRoute, org, id), nil, nil)
}

// AcceptInvite sends this user's identity and its MAC under the invite.
func (c *Client) AcceptInvite(ctx context.Context, id string, req api.AcceptInviteRequest) (api.AcceptInviteResponse, error) {
	var out api.AcceptInviteResponse
	err := c.do(ctx, http.MethodPost, api.Path(api.AcceptInviteRoute, id), req, &out)
	return out, err
}

// Members lists org's members as the server records them.
func (c *Client) Members(ctx context.Context, org string) ([]api.Member, error) {
	var out []api.Member
	err := c.do(ctx, http.MethodGet, api.Path(api.MembersRoute, org), nil, &out)
	return out, err
}

// ChangeOrg appends chain entries to org and applies them, with their
// grants and re-sealed revisions.
func (c *Client) ChangeOrg(ctx context.Context, org string, req api.OrgChange) (api.ChainWriteResponse, error) {
	var out api.ChainWriteResponse
	err := c.do(ctx, http.MethodPost, api.Path(api.OrgChangeRoute, org), req, &out)
	return out, err
}

// Pending lists the grants and rotations org's chain calls for that no key
// holder has made yet.
func (c *Client) Pending(ctx context.Context, org string) (api.Pending, error) {
	var out api.Pending
	err := c.do(ctx, http.MethodGet, api.Path(api.PendingRoute, org), nil, &out)
	return out, err
}
