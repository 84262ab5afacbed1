package api

import "time"

// AuditRoute is an org's audit log: GET, owners and admins only.
const AuditRoute = OrgRoute + "/audit"

// Query parameters of AuditRoute.
const (
	// AuditSinceParam (RFC 3339) asks for entries at or after a time.
	AuditSinceParam = "since"
	// AuditEnvParam asks for one environment's entries: "project/env",
	// or "env" in any project.
	AuditEnvParam = "env"
)

// Headers every client request carries, recorded in the audit log. Both
// are the client's claim: the server checks only their shape.
const (
	// CommandHeader is the CLI command being run, e.g. "run" or
	// "secrets get". A write under "secrets rollback" is recorded as a
	// rollback.
	CommandHeader = "Secr-Command"
	// UserAgentPrefix starts the User-Agent of secr's CLI: "secr/1.2.3".
	UserAgentPrefix = "secr/"
)

// AuditLog is an org's retained audit log, oldest entry first.
type AuditLog struct {
	Org   string `json:"org"`
	OrgID string `json:"org_id"`
	// CheckpointSeq and CheckpointHash are where the retained chain
	// starts: the last entry pruned (0 and empty when none was).
	CheckpointSeq  uint64       `json:"checkpoint_seq"`
	CheckpointHash []byte       `json:"checkpoint_hash,omitempty"`
	Entries        []AuditEntry `json:"entries"`
}

// AuditEntry is one entry of an org's audit log; see package audit for
// what the fields mean and how Hash is computed.
type AuditEntry struct {
	Seq         uint64    `json:"seq"`
	At          time.Time `json:"at"`
	PrincipalID string    `json:"principal_id"`
	Principal   string    `json:"principal"`
	Action      string    `json:"action"`
	EnvID       string    `json:"env_id,omitempty"`
	Env         string    `json:"env,omitempty"`
	Revision    int64     `json:"revision,omitempty"`
	Address     string    `json:"address"`
	CLIVersion  string    `json:"cli_version,omitempty"`
	Command     string    `json:"command,omitempty"`
	Detail      string    `json:"detail,omitempty"`
	Hash        []byte    `json:"hash"`
}
