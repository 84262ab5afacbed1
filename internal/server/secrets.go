package server

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/secr-dev/secr/internal/api"
	"github.com/secr-dev/secr/internal/audit"
	"github.com/secr-dev/secr/internal/store"
	"github.com/secr-dev/secr/internal/trust"
)

// maxCiphertext bounds one revision (the whole environment).
const maxCiphertext = api.MaxCiphertext

func noAccess(env string) error {
	return errForbidden("you have no key for environment %q: ask an org admin to grant you access", env)
}

// currentGrant returns p's wrapped key for env's current key version.
func (s *Server) currentGrant(ctx context.Context, p *principal, env store.Environment) (store.Grant, error) {
	grants, err := s.store.Grants(ctx, env.ID, p.id)
	if err != nil {
		return store.Grant{}, err
	}
	for _, g := range grants {
		if g.KeyVersion == env.KeyVersion {
			return g, nil
		}
	}
	return store.Grant{}, noAccess(env.Name)
}

// authorName shows a user by email and a service token by name and ID.
// Principals that no longer exist are shown by ID.
func (s *Server) authorName(ctx context.Context, id string, cache map[string]string) string {
	if n, ok := cache[id]; ok {
		return n
	}
	n := id
	if u, err := s.store.UserByID(ctx, id); err == nil {
		n = u.Email
	} else if t, err := s.store.TokenByID(ctx, id); err == nil {
		n = "token " + t.Name + " (" + t.ID + ")"
	}
	cache[id] = n
	return n
}

func apiRevision(r store.Revision) *api.Revision {
	return &api.Revision{Revision: r.Revision, KeyVersion: r.KeyVersion, Header: r.Header, Ciphertext: r.Ciphertext, Author: r.AuthorID, CreatedAt: r.CreatedAt}
}

// snapshot answers `secr run`: everything in one response, from the
// access resolveEnv already read.
func snapshot(p *principal, sc scope) (api.Snapshot, error) {
	g := sc.access.Grant
	if g == nil {
		return api.Snapshot{}, noAccess(sc.env.Name)
	}
	snap := api.Snapshot{
		Org: sc.org.Name, OrgID: sc.org.ID, Project: sc.project.Name, ChainHead: sc.org.HeadSeq,
		Environment: api.Environment{ID: sc.env.ID, Name: sc.env.Name, KeyVersion: sc.env.KeyVersion},
		Grant:       g.Signed,
		CanWrite:    p.token == nil || p.token.ReadWrite,
		Pending:     sc.access.Pending,
	}
	if rev := sc.access.Latest; rev != nil {
		snap.Revision = apiRevision(*rev)
		snap.Environment.LatestRevision = rev.Revision
	}
	return snap, nil
}

// snapshotQuery is what a snapshot request asks for beyond the latest
// revision: the org chain from ChainFromParam, the headers from SinceParam.
type snapshotQuery struct {
	chainFrom uint64
	since     int64
}

func parseSnapshotQuery(r *http.Request) (snapshotQuery, error) {
	var q snapshotQuery
	var err error
	v := r.URL.Query() // parsed once: it allocates
	if q.chainFrom, err = chainFromQuery(v); err != nil {
		return q, err
	}
	q.since, err = sinceQuery(v)
	return q, err
}

// fillSnapshot adds the chain and headers q asks for. From the head, and
// since the latest revision, they are what resolveEnv already read.
func (s *Server) fillSnapshot(ctx context.Context, sc scope, q snapshotQuery, snap *api.Snapshot) error {
	chain, err := s.chainSince(ctx, sc.org, q.chainFrom)
	if err != nil {
		return err
	}
	snap.Chain = chain
	latest := sc.access.Latest
	switch {
	case q.since == 0 || latest == nil:
	case q.since >= latest.Revision:
		snap.Headers = [][]byte{latest.Header}
	default:
		if snap.Headers, err = s.store.RevisionHeaders(ctx, sc.env.ID, q.since); err != nil {
			return err
		}
		// Revisions written since the latest was read belong to the next
		// answer: the headers end at the revision this one carries.
		if n := latest.Revision - q.since + 1; int64(len(snap.Headers)) > n {
			snap.Headers = snap.Headers[:n]
		}
	}
	return nil
}

func (s *Server) handleSnapshot(w http.ResponseWriter, r *http.Request, p *principal) error {
	// Announced before anything else, so that the audit log's group
	// commit can wait for this read's entry rather than commit without it.
	ctx, done := s.store.ExpectAudit(r.Context())
	defer done()
	q, err := parseSnapshotQuery(r)
	if err != nil {
		return err
	}
	sc, err := s.resolveEnv(ctx, p, r.PathValue("org"), r.PathValue("project"), r.PathValue("env"))
	if err != nil {
		return err
	}
	return s.answerSnapshot(ctx, w, r, p, sc, q)
}

// answerSnapshot answers an authorised snapshot read; ctx is ExpectAudit's.
func (s *Server) answerSnapshot(ctx context.Context, w http.ResponseWriter, r *http.Request, p *principal, sc scope, q snapshotQuery) error {
	snap, err := snapshot(p, sc)
	if err != nil {
		return err
	}
	// Recorded before answering, 200 or 304 alike: the revision is the
	// one served or confirmed.
	e := auditEnv(s.newAudit(r, p, sc.org.ID, audit.ActionRead), sc)
	e.Revision = snap.Environment.LatestRevision
	if err := s.audit(ctx, e); err != nil {
		return err
	}
	return s.writeSnapshot(w, r, headKey{p.id, sc.env.ID}, &snap, func() error { return s.fillSnapshot(r.Context(), sc, q, &snap) })
}

// tokenScope resolves a service token's own environment, in one query.
func (s *Server) tokenScope(ctx context.Context, p *principal) (scope, error) {
	if p.token == nil {
		return scope{}, errBadRequest("this endpoint is for service tokens; users name the org, project and environment")
	}
	a, err := s.store.ResolveEnvByID(ctx, p.token.EnvID, p.id)
	if err != nil {
		return scope{}, err
	}
	return s.scopeOf(p, a, a.Org.Name, a.Project.Name, a.Env.Name)
}

func (s *Server) handleTokenSnapshot(w http.ResponseWriter, r *http.Request, p *principal) error {
	ctx, done := s.store.ExpectAudit(r.Context())
	defer done()
	q, err := parseSnapshotQuery(r)
	if err != nil {
		return err
	}
	sc, err := s.tokenScope(ctx, p)
	if err != nil {
		return err
	}
	return s.answerSnapshot(ctx, w, r, p, sc, q)
}

// writeSnapshot answers a snapshot request that was authorised: 304 when
// If-None-Match names what the client holds and it is still the latest,
// else (after fill has added the chain and headers, which the ETag does
// not cover) the binary form when the client accepts it, else JSON.
func (s *Server) writeSnapshot(w http.ResponseWriter, r *http.Request, k headKey, snap *api.Snapshot, fill func() error) error {
	etag := api.SnapshotETag(*snap)
	h := w.Header()
	h["Etag"] = []string{etag}
	h["Cache-Control"] = []string{"no-store"}
	h["Vary"] = []string{"Accept, Authorization"}
	if inm := r.Header.Get("If-None-Match"); inm != "" && inm == etag {
		w.WriteHeader(http.StatusNotModified)
		return nil
	}
	if err := fill(); err != nil {
		h.Del("ETag")
		return err
	}
	if !strings.Contains(r.Header.Get("Accept"), api.SnapshotMediaType) {
		writeJSON(w, http.StatusOK, *snap)
		return nil
	}
	// The binary form (api.AppendSnapshot's), written as its head and the
	// ciphertext as it is, so the ciphertext is not copied into a body.
	hs := *snap
	var ct []byte
	if hs.Revision != nil {
		rev := *hs.Revision
		ct, rev.Ciphertext = rev.Ciphertext, nil
		hs.Revision = &rev
	}
	// A head encoded before from equal values is the same bytes (headCache).
	head := s.heads.get(k, &hs)
	written := false
	if head == nil {
		buf := s.bufs.Get().(*bytes.Buffer)
		defer func() {
			// Only a buffer whose write completed goes back: after a failed
			// one (an HTTP/2 stream reset mid-frame) the connection's writer
			// may still be reading it, and another answer must not be built
			// in it meanwhile.
			if written && buf.Cap() <= maxPooledBuf {
				s.bufs.Put(buf)
			}
		}()
		buf.Reset()
		buf.Write([]byte{snapshotWireVersion, 0, 0, 0, 0})
		if err := json.NewEncoder(buf).Encode(hs); err != nil {
			return err
		}
		buf.Truncate(buf.Len() - 1) // Encode's newline, which json.Marshal does not write
		head = buf.Bytes()
		binary.BigEndian.PutUint32(head[1:5], uint32(len(head)-5))
		s.heads.put(k, &hs, head)
	}
	h["Content-Type"] = []string{api.SnapshotMediaType}
	h["Content-Length"] = []string{strconv.Itoa(len(head) + len(ct))}
	w.WriteHeader(http.StatusOK)
	if _, err := w.Write(head); err == nil {
		written = true
		if len(ct) > 0 {
			_, _ = w.Write(ct) // shared and never modified: no such concern
		}
	}
	return nil
}

// maxPooledBuf: larger answer buffers (a long chain or many headers) are
// left to the garbage collector rather than kept.
const maxPooledBuf = 256 << 10

// snapshotWireVersion is the first byte of api.SnapshotMediaType's form.
const snapshotWireVersion = 1

func (s *Server) handleHistory(w http.ResponseWriter, r *http.Request, p *principal) error {
	from, err := chainFrom(r)
	if err != nil {
		return err
	}
	sc, err := s.resolveEnv(r.Context(), p, r.PathValue("org"), r.PathValue("project"), r.PathValue("env"))
	if err != nil {
		return err
	}
	grants, err := s.store.Grants(r.Context(), sc.env.ID, p.id)
	if err != nil {
		return err
	}
	if len(grants) == 0 {
		return noAccess(sc.env.Name)
	}
	revs, err := s.store.Revisions(r.Context(), sc.env.ID)
	if err != nil {
		return err
	}
	chain, err := s.chainSince(r.Context(), sc.org, from)
	if err != nil {
		return err
	}
	h := api.History{
		Org: sc.org.Name, OrgID: sc.org.ID,
		Environment: api.Environment{ID: sc.env.ID, Name: sc.env.Name, KeyVersion: sc.env.KeyVersion},
		Revisions:   []api.Revision{},
		Grants:      map[int][]byte{},
		Chain:       chain,
	}
	for _, g := range grants {
		h.Grants[g.KeyVersion] = g.Signed
	}
	e := auditEnv(s.newAudit(r, p, sc.org.ID, audit.ActionRead), sc)
	e.Detail = "history"
	if len(revs) > 0 {
		e.Revision = revs[len(revs)-1].Revision
	}
	if err := s.audit(r.Context(), e); err != nil {
		return err
	}
	names := map[string]string{}
	for _, rev := range revs {
		ar := apiRevision(rev)
		ar.Author = s.authorName(r.Context(), rev.AuthorID, names)
		h.Revisions = append(h.Revisions, *ar)
		h.Environment.LatestRevision = rev.Revision
	}
	writeJSON(w, http.StatusOK, h)
	return nil
}

// checkHeader checks what the server can of a new revision's header
// beyond its fields: that it links to the latest revision, and that its
// author signed it and could write the environment at the chain entry it
// names. Clients check all of it again (and the ciphertext's hash, which
// the server does not); this stops a broken or hostile client from
// storing a revision every reader would refuse.
func (s *Server) checkHeader(ctx context.Context, sc scope, hdr *trust.Header) error {
	var from trust.Position
	if latest := sc.access.Latest; latest != nil {
		prev, err := trust.ParseHeader(latest.Header)
		if err != nil {
			return fmt.Errorf("env %s revision %d: stored header: %w", sc.env.ID, latest.Revision, err)
		}
		from = prev.Position()
	}
	if err := trust.CheckLinks(from, []*trust.Header{hdr}); err != nil {
		return errBadRequest("revision header refused: %v", err)
	}
	org, err := s.store.OrgByID(ctx, sc.org.ID)
	if err != nil {
		return err
	}
	st, err := trust.ParseState(org.State)
	if err != nil {
		return fmt.Errorf("org %s: stored chain state: %w", org.ID, err)
	}
	if err := st.VerifyHeader(hdr); err != nil {
		return errBadRequest("revision header refused: %v", err)
	}
	// The header may name an older chain position (a client that had not
	// seen a later change): what counts here is whether the author may
	// write now.
	if st.RotationOwed(hdr.EnvID()) {
		return errConflict("the key of environment %q must be rotated before anything more is written under it (someone lost access): run 'secr access sync' with a key holder's login", sc.env.Name)
	}
	if st.Access(hdr.Author(), hdr.EnvID(), st.Seq()) != trust.Write {
		return errForbidden("you may only read environment %q now (org chain entry %d): ask an owner or admin for write access", sc.env.Name, st.Seq())
	}
	return nil
}

func (s *Server) handleWriteRevision(w http.ResponseWriter, r *http.Request, p *principal) error {
	sc, err := s.resolveEnv(r.Context(), p, r.PathValue("org"), r.PathValue("project"), r.PathValue("env"))
	if err != nil {
		return err
	}
	if p.token != nil && !p.token.ReadWrite {
		return errForbidden("this service token is read-only: create one with 'secr tokens create --read-write' to write")
	}
	if sc.access.Grant == nil {
		return noAccess(sc.env.Name)
	}
	var req api.WriteRevisionRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	switch {
	case req.KeyVersion != sc.env.KeyVersion:
		return errConflict("environment %q is now on key version %d, not %d: fetch again", sc.env.Name, sc.env.KeyVersion, req.KeyVersion)
	case req.BaseRevision < 0:
		return errBadRequest("invalid base revision %d", req.BaseRevision)
	case len(req.Ciphertext) == 0 || len(req.Ciphertext) > maxCiphertext:
		if len(req.Ciphertext) == 0 {
			return errBadRequest("ciphertext is empty")
		}
		return &httpError{http.StatusRequestEntityTooLarge, api.CodeBadRequest,
			fmt.Sprintf("environment %q is %s sealed, more than this server's limit of %s per environment",
				sc.env.Name, api.FormatSize(len(req.Ciphertext)), api.FormatSize(maxCiphertext)), 0}
	}
	// A base that is not the latest is a conflict whatever the header says:
	// the client must fetch and seal again. (AppendRevision decides races.)
	var latest int64
	if sc.access.Latest != nil {
		latest = sc.access.Latest.Revision
	}
	if req.BaseRevision != latest {
		return errConflict("revision %d is no longer the latest of environment %q", req.BaseRevision, sc.env.Name)
	}
	if len(req.Header) == 0 {
		return errBadRequest("the revision's signed header is missing")
	}
	hdr, err := trust.ParseHeader(req.Header)
	if err != nil {
		return errBadRequest("revision header refused: %v", err)
	}
	switch {
	case hdr.EnvID() != sc.env.ID:
		return errBadRequest("revision header refused: it is for environment %q, not %q (%s)", hdr.EnvID(), sc.env.Name, sc.env.ID)
	case hdr.Revision() != req.BaseRevision+1:
		return errBadRequest("revision header refused: it is revision %d, not %d (base %d + 1)", hdr.Revision(), req.BaseRevision+1, req.BaseRevision)
	case hdr.KeyVersion() != req.KeyVersion:
		return errBadRequest("revision header refused: it is under key version %d, not %d", hdr.KeyVersion(), req.KeyVersion)
	case hdr.Author() != p.id:
		return errBadRequest("revision header refused: its author is %q, not you (%s)", hdr.Author(), p.id)
	case hdr.ChainSeq() > sc.org.HeadSeq:
		return errBadRequest("revision header refused: it relies on org chain entry %d, past the head (%d)", hdr.ChainSeq(), sc.org.HeadSeq)
	}
	if err := s.checkHeader(r.Context(), sc, hdr); err != nil {
		return err
	}
	rev := store.Revision{
		EnvID: sc.env.ID, Revision: req.BaseRevision + 1, KeyVersion: req.KeyVersion, Header: hdr.Bytes(),
		Ciphertext: req.Ciphertext, AuthorID: p.id, CreatedAt: s.now(),
	}
	e := auditEnv(s.newAudit(r, p, sc.org.ID, writeAction(r)), sc)
	e.Revision = rev.Revision
	if err := s.store.AppendRevision(withAudit(r.Context(), e), rev, req.BaseRevision); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return errConflict("revision %d is no longer the latest of environment %q", req.BaseRevision, sc.env.Name)
		}
		return err
	}
	s.log.InfoContext(r.Context(), "revision written", "env", sc.env.ID, "revision", rev.Revision, "principal", p.id)
	s.events.publish(sc.env.ID, rev.Revision)
	writeJSON(w, http.StatusCreated, api.WriteRevisionResponse{Revision: rev.Revision})
	return nil
}
