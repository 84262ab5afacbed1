package session

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/secr-dev/secr/internal/api"
	"github.com/secr-dev/secr/internal/client"
	"github.com/secr-dev/secr/internal/config"
	"github.com/secr-dev/secr/internal/crypto"
	"github.com/secr-dev/secr/internal/envdoc"
	"github.com/secr-dev/secr/internal/trust"
)

// Load fetches the latest revision of t's environment and this principal's
// key in one request, then unwraps, opens and checks it. With a service
// token and no explicit project, it asks for the token's own environment.
//
// The fetch is conditional: when this machine's cache holds a snapshot of
// the environment that it verified on the pinned chain's head (its receipt
// opens there) and that is no older than the rollback mark, the request
// names it and a server that still has nothing newer answers 304 Not
// Modified, with no body. The cached copy is then checked like a fresh
// answer, the receipt standing in for the signature checks and the unwrap
// that it records passed (trust.Receipt). A server can only make the
// client use what the client itself holds and verified, never anything
// older than the rollback mark.
func (s *Session) Load(ctx context.Context, t Target) (*Env, error) {
	return s.load(ctx, t, true, 0)
}

// LoadWithin is Load, except that when this machine holds a copy the
// server confirmed as the latest at most maxAge ago (a fetch, a 304, or
// this machine's own write), it is used without asking the server: checked
// exactly as after a 304, and marked Env.Unasked. It trades freshness (a
// change made elsewhere shows after up to maxAge) and the server's audit
// entry for the request's round trip, so only 'secr run --max-age' uses it.
func (s *Session) LoadWithin(ctx context.Context, t Target, maxAge time.Duration) (*Env, error) {
	return s.load(ctx, t, true, maxAge)
}

// load is Load; conditional false names nothing held (the fetch again
// after a held copy did not open); maxAge > 0 is LoadWithin.
func (s *Session) load(ctx context.Context, t Target, conditional bool, maxAge time.Duration) (*Env, error) {
	var snap api.Snapshot
	var err error
	marks := s.marks()
	cacheKey := s.cacheKey(t)
	if !s.viaToken(t) {
		if err := t.RequireProject(); err != nil {
			return nil, err
		}
	}
	// A run that may use what the server confirmed recently (maxAge) asks
	// it only when that copy turns out too old: no connection before then.
	fresh := maxAge > 0 && conditional && !s.policy.Offline
	if !s.policy.Offline && !fresh {
		// Connect while this machine reads its pinned chain and cache.
		s.client.Preconnect()
	}
	chainKey := s.chainKey(t.Org)
	pinned, err := s.pinned(chainKey)
	if err != nil {
		return nil, err
	}
	if s.policy.Offline {
		return s.fromCache(t, cacheKey, pinned, marks, 0)
	}
	// The request names what this machine already verified: the chain from
	// its pinned head, the history from the revision it saw last, and (when
	// it has both) the snapshot it holds, for a 304.
	fetch := client.Fetch{ChainFrom: chainFrom(pinned)}
	var held cached
	var holds bool
	etag := ""
	if pinned != nil {
		if env, ok := s.chainEnv(pinned, t); ok {
			fetch.Since = marks.Get(s.api, markID(pinned, env.ID)).Rev
			if conditional {
				held, etag, holds = s.held(cacheKey, pinned, env, marks)
			}
		}
	}
	if fresh {
		// A service token past the expiry its token.create records (on
		// the pinned chain, which holds implies) has no access left: only
		// the server may say otherwise, so it is asked.
		if age, ok := s.recent(held, holds, maxAge); ok && !(s.token != nil && s.expiredToken(pinned, s.token.ID())) {
			return s.openRecent(ctx, t, held, pinned, marks, age)
		}
		s.client.Preconnect()
	}
	// Opening what is held (decrypting and parsing it) does not depend on
	// the answer, so a large copy is opened while the request is out; a
	// 304 then finds it done. It is used only after that 304, and checked
	// exactly as it would be after it. A small one is opened after the
	// answer, like everything else: the goroutine would cost more than
	// the overlap saves.
	var early chan openResult
	if holds && len(held.snap.Revision.Ciphertext) >= s.openEarlyMin {
		early = make(chan openResult, 1)
		go func() {
			e, err := s.open(t, held.snap, pinned, marks, true, held.receipt, held.opened)
			early <- openResult{e, err}
		}()
		// Whatever the answer (a 200, an error, a retry), the open ends
		// before load returns: it reads the Session, which the caller may
		// change next (Update derives the signer that s.me reads).
		defer func() {
			if early != nil {
				<-early
			}
		}()
	}
	var notModified bool
	if s.viaToken(t) {
		snap, notModified, err = s.client.TokenSnapshotIf(ctx, fetch, etag)
	} else {
		snap, notModified, err = s.client.SnapshotIf(ctx, t.Org, t.Project, t.Env, fetch, etag)
		if s.login != nil && isNotMember(err) {
			// The teammate who cloned a repository: say exactly what to ask for.
			return nil, WithHint(err, "ask an owner or admin of %q to run: secr members invite %s --role developer --env %s", t.Org, s.login.Email, t.Env)
		}
		if isEnvNotFound(err, t) {
			// "prod" for production, or a typo: say which one was meant.
			if resolved, rerr := s.resolveEnv(ctx, t, err); rerr != nil {
				return nil, rerr
			} else if resolved.Env != t.Env {
				return s.load(ctx, resolved, conditional, maxAge)
			}
		}
	}
	var unreachable *client.UnreachableError
	switch {
	case err == nil:
	case errors.As(err, &unreachable) && s.policy.MaxStale > 0:
		env, cerr := s.fromCache(t, cacheKey, pinned, marks, s.policy.MaxStale)
		if cerr != nil {
			// Say why the cache did not help, or a refused cache looks
			// like no cache at all.
			return nil, Explain(fmt.Errorf("%w; the offline cache was not used: %v", err, cerr))
		}
		return env, nil
	case errors.Is(err, client.ErrUnauthorized) && s.cache != nil:
		// The server no longer accepts this principal: drop all it cached.
		_ = s.cache.Forget(s.api, s.principalID())
		return nil, Explain(err)
	case errors.Is(err, client.ErrForbidden) && s.cache != nil:
		// No longer allowed to read this environment (others may still be).
		_ = s.cache.ForgetTarget(s.api, s.principalID(), cacheKey)
		return nil, Explain(err)
	default:
		return nil, Explain(err)
	}
	st := pinned
	var receipt []byte
	var opened *trust.Receipt
	if notModified {
		// Checked below exactly like a fresh answer; the receipt only
		// stands in for checks that passed on this very chain head.
		snap, receipt, opened = held.snap, held.receipt, held.opened
	} else {
		org := t.Org
		if s.viaToken(t) {
			org = "" // the token's anchor says which org
		}
		if st, err = s.advance(chainKey, org, pinned, snap.Chain); err != nil {
			return nil, err
		}
		if pinned == nil && snap.Revision != nil {
			// Without a pinned chain this principal could not name its
			// environment, so it did not ask for the history since the
			// revision this machine saw last; now it can, and must.
			if env, ok := s.chainEnv(st, t); ok && marks.Get(s.api, markID(st, env.ID)).Rev > 0 {
				if again, _ := s.pinned(chainKey); again != nil {
					// The server was asked already: not a --max-age
					// run's cached copy (maxAge 0), but its answer again.
					return s.load(ctx, t, conditional, 0)
				}
			}
		}
	}
	// The headers since the mark are in a fresh answer only if they were
	// asked for (a principal with no pinned chain cannot name its
	// environment before the answer); a cached snapshot carries its own.
	var env *Env
	if notModified && early != nil {
		o := <-early
		early = nil // received: nothing left to wait for
		env, err = o.env, o.err
	} else {
		env, err = s.open(t, snap, st, marks, notModified || fetch.Since > 0, receipt, opened)
	}
	if err != nil && notModified {
		return s.refetch(ctx, t, err)
	}
	if err != nil {
		return nil, err
	}
	s.recordSeen(env, marks)
	if notModified {
		s.confirmSnap(cacheKey, s.opts.now())
		return env, nil
	}
	// Only a revision newer than the mark can be newer than the cache: every
	// revision that raised the mark was cached when it did. A different
	// answer for the same revision (write permission, key version) replaces
	// the cache too, or no later fetch could be answered 304.
	if env.Revision > marks.Get(s.api, markID(st, env.ID)).Rev || !holds || api.SnapshotETag(snap) != etag || env.receiptNew {
		// (A fresh answer is opened without a receipt, so it always makes
		// one: the record is rewritten whenever the server sends a body.)
		s.putCache(cacheKey, env.snap, env.receipt)
	}
	return env, nil
}

// recent reports whether the held copy (holds: held may be named on the
// pinned head, see held) was confirmed by the server within maxAge, and how
// long ago. A confirmation time in the future (the clock went back, or the
// file's time was set ahead) is not recent: it must not keep a copy fresh
// for ever.
func (s *Session) recent(held cached, holds bool, maxAge time.Duration) (time.Duration, bool) {
	if !holds {
		return 0, false
	}
	age := s.opts.now().Sub(held.confirmed)
	return age, age >= 0 && age <= maxAge
}

// openRecent opens a held copy the server confirmed age ago, without asking
// it (LoadWithin): checked exactly as after a 304 (on the pinned head, against the
// rollback mark, the receipt standing in for the checks it records). The
// confirmation time is left as it was: only the server moves it. A copy
// that does not open is fetched whole instead.
func (s *Session) openRecent(ctx context.Context, t Target, held cached, pinned *trust.State, marks config.Marks, age time.Duration) (*Env, error) {
	env, err := s.open(t, held.snap, pinned, marks, true, held.receipt, held.opened)
	if err != nil {
		return s.refetch(ctx, t, err)
	}
	s.recordSeen(env, marks)
	env.Unasked, env.ConfirmedAgo = true, age
	return env, nil
}

// refetch is load after the held copy did not open (a damaged or edited
// cache, err says how): the environment is fetched whole, once, naming
// nothing held, and that is checked.
func (s *Session) refetch(ctx context.Context, t Target, err error) (*Env, error) {
	s.opts.warnf("the cached copy of %s/%s/%s did not verify (%v); fetching it again", t.Org, t.Project, t.Env, err)
	return s.load(ctx, t, false, 0)
}

// openResult is what open returned, for a held copy opened early.
type openResult struct {
	env *Env
	err error
}

// openEarlyMin is the ciphertext size from which a held copy is opened
// while the request is out (about 250 secrets).
const openEarlyMin = 16 << 10

// isNotMember reports whether err is the server's answer for an org that
// does not exist or that the caller is not a member of.
func isNotMember(err error) bool {
	var ae *client.APIError
	return errors.As(err, &ae) && ae.Status == 404 && strings.Contains(ae.Message, "not a member")
}

// held returns the snapshot this machine cached for key, and the ETag to
// name it with in a conditional fetch, if it holds one that may be named:
// one whose receipt opens on the pinned chain's head (so its grant and
// header are the ones this machine verified there) and that is not older
// than the rollback mark. The ETag is made of what the pinned chain says
// (environment, key version, head, write access) and the verified header
// (its revision and hash), never of the cache's own unsigned fields: an
// edited cache must not make an honest server confirm what it no longer
// serves.
func (s *Session) held(key string, pinned *trust.State, env trust.Env, marks config.Marks) (c cached, etag string, ok bool) {
	c, err := s.readSnap(key)
	if err != nil || c.snap.Revision == nil || len(c.receipt) == 0 {
		return cached{}, "", false
	}
	g, err := trust.ParseGrant(c.snap.Grant)
	if err != nil {
		return cached{}, "", false
	}
	h, err := trust.ParseHeader(c.snap.Revision.Header)
	if err != nil || h.EnvID() != env.ID || h.KeyVersion() != env.KeyVersion || h.Revision() < marks.Get(s.api, markID(pinned, env.ID)).Rev {
		return cached{}, "", false
	}
	if c.opened, _ = pinned.OpenReceipt(s.identity, c.receipt, g, h); c.opened == nil {
		return cached{}, "", false
	}
	etag = api.SnapshotETag(api.Snapshot{
		Environment: api.Environment{ID: env.ID, KeyVersion: env.KeyVersion},
		Revision:    &api.Revision{Revision: h.Revision(), Header: h.Bytes()},
		ChainHead:   pinned.Seq(),
		CanWrite:    pinned.Access(s.me(), env.ID, pinned.Seq()) == trust.Write,
	})
	return c, etag, true
}

// cacheKey names t's environment in the offline cache.
func (s *Session) cacheKey(t Target) string {
	if s.viaToken(t) {
		return "token"
	}
	return t.Org + "/" + t.Project + "/" + t.Env
}

func (s *Session) cacheHas(key string) bool {
	return s.cache != nil && s.cache.Has(s.api, s.principalID(), key)
}

// putCache stores snap (still encrypted) as the newest for key, with the
// receipt of its opening (nil: none), confirmed now.
func (s *Session) putCache(key string, snap api.Snapshot, receipt []byte) {
	if s.cache == nil {
		return
	}
	if err := s.writeSnap(key, snap, receipt, s.opts.now()); err != nil {
		s.opts.warnf("could not cache the secrets for offline use: %v", err)
	}
}

// fromCache opens the cached snapshot for key, checked against the pinned
// org chain. maxAge 0 means any age (an explicit --offline); otherwise the
// server was unreachable and a cache older than maxAge is refused.
func (s *Session) fromCache(t Target, key string, pinned *trust.State, marks config.Marks, maxAge time.Duration) (*Env, error) {
	c, err := s.readSnap(key)
	if err != nil {
		return nil, WithHint(err, "run once while the server is reachable to fill the cache")
	}
	fetched := c.confirmed
	if pinned == nil {
		return nil, WithHint(errors.New("no verified org chain on this machine to check the cached secrets against"),
			"run once while the server is reachable")
	}
	age := s.opts.now().Sub(fetched).Round(time.Second)
	if maxAge > 0 && age > maxAge {
		return nil, fmt.Errorf("cached secrets are %s old, older than --max-stale %s", age, maxAge)
	}
	env, err := s.open(t, c.snap, pinned, marks, true, c.receipt, nil)
	if err != nil {
		return nil, err
	}
	s.recordSeen(env, marks)
	if maxAge > 0 {
		s.opts.warnf("the secr server at %s is unreachable; using secrets cached %s ago (revision %d)", s.api, age, env.Revision)
	} else {
		s.opts.infof("secr: offline: using secrets cached %s ago (revision %d)", age, env.Revision)
	}
	return env, nil
}

// viaToken reports whether t is a service token's own environment,
// reached through the token endpoints rather than by names.
func (s *Session) viaToken(t Target) bool {
	return s.token != nil && (t.Org == "" || t.Project == "" || !t.EnvExplicit)
}

// marks reads the rollback high-water marks (nil when there is no state).
func (s *Session) marks() config.Marks {
	if s.seen == nil {
		return nil
	}
	return s.seen.Load()
}

// chainEnv returns the environment t names, as the verified chain st
// binds names to IDs: for a service token's own environment, the one its
// token.create names.
func (s *Session) chainEnv(st *trust.State, t Target) (trust.Env, bool) {
	if s.viaToken(t) {
		info, ok := st.Token(s.token.ID())
		if !ok {
			return trust.Env{}, false
		}
		return st.Env(info.EnvID)
	}
	prj, ok := st.LookupProject(t.Project)
	if !ok {
		return trust.Env{}, false
	}
	return st.LookupEnv(prj, t.Env)
}

// open checks snap against the verified org chain st and the rollback
// marks read before the request, then unwraps the key and opens the
// revision. Nothing the server says is believed unless the chain or a
// signature backs it: the environment is the one the chain binds t's names
// to, the key was wrapped by a principal with access, the revision was
// signed by one who could write, and it continues the history this
// machine saw last. links says whether snap.Headers holds the headers
// since the mark; without them (a first contact for this principal) only
// the mark's own revision is compared.
func (s *Session) open(t Target, snap api.Snapshot, st *trust.State, marks config.Marks, links bool, receipt []byte, opened *trust.Receipt) (*Env, error) {
	env, ok := s.chainEnv(st, t)
	if !ok {
		what := t.Org + "/" + t.Project + "/" + t.Env
		if s.viaToken(t) {
			what = "service token " + s.token.ID()
		}
		return nil, WithHint(integrityErrorf("the server answered for %s, which the verified org chain of %q does not have", what, st.OrgName()),
			"the server may be lying about which environments exist; contact its administrator")
	}
	project, _ := st.ProjectName(env.ProjectID)
	name := st.OrgName() + "/" + project + "/" + env.Name
	if s.viaToken(t) {
		if err := tokenScope(t, st.OrgName(), project, env.Name); err != nil {
			return nil, err
		}
	}
	if snap.Environment.ID != env.ID {
		return nil, WithHint(integrityErrorf("got environment ID %s for %s, which the org chain binds to %s: environments swapped?",
			snap.Environment.ID, name, env.ID), "the server (or the offline cache) answered for another environment: contact your secr server's administrator; do not trust this server's answers until resolved")
	}
	g, err := trust.ParseGrant(snap.Grant)
	if err != nil {
		return nil, integrityErrorf("the key of environment %s: %v", name, err)
	}
	if g.EnvID() != env.ID || g.Recipient() != s.me() {
		return nil, integrityErrorf("the server sent a key for %s/%s instead of this principal's key for %s", g.EnvID(), g.Recipient(), name)
	}
	var h *trust.Header
	if r := snap.Revision; r != nil {
		if h, err = trust.ParseHeader(r.Header); err != nil {
			return nil, integrityErrorf("revision %d of %s: %v", r.Revision, name, err)
		}
	}
	// A receipt this principal sealed when it opened the same grant and
	// header on the same chain head stands for the signature checks and
	// the unwrap; anything else is verified in full.
	var rcpt *trust.Receipt
	var key *crypto.EnvKey
	if h != nil && receipt != nil {
		if opened.Covers(st, g, h) {
			rcpt = opened // opened by held, for this very copy
		} else {
			rcpt, _ = st.OpenReceipt(s.identity, receipt, g, h)
		}
		if rcpt != nil {
			key = rcpt.Key()
		}
	}
	if key == nil {
		if key, err = st.OpenGrant(g, s.identity); err != nil {
			return nil, WithHint(integrityErrorf("the key of environment %s: %v", name, err),
				"the key was not wrapped by anyone the org chain allows (a substituted key?): nothing was read or written; contact your secr server's administrator")
		}
	}
	if key.Version() != env.KeyVersion {
		return nil, integrityErrorf("the server sent key version %d of %s, but the org chain is at version %d (a replayed old key?)", key.Version(), name, env.KeyVersion)
	}
	e := &Env{Org: st.OrgName(), Project: project, Name: env.Name, ID: env.ID,
		CanWrite: st.Access(s.me(), env.ID, st.Seq()) == trust.Write,
		key:      key, doc: envdoc.New(), state: st}
	mark := marks.Get(s.api, markID(st, env.ID))
	snap.Chain = nil
	if h != nil {
		r := snap.Revision
		if h.Revision() < mark.Rev {
			return nil, rollbackError(name, h.Revision(), mark.Rev)
		}
		switch {
		case mark.Rev > 0 && links:
			if err := s.checkHistory(name, mark, snap.Headers, h); err != nil {
				return nil, err
			}
		case h.Revision() == mark.Rev && h.Hash() != mark.Hash:
			return nil, integrityErrorf("revision %d of %s is not the one this machine saw before", mark.Rev, name)
		}
		var plain []byte
		if rcpt != nil {
			plain, err = st.OpenLatestWith(rcpt, env.ID, h, r.Ciphertext)
		} else {
			plain, err = st.OpenLatest(env.ID, h, r.Ciphertext, key)
		}
		if err != nil {
			return nil, WithHint(integrityErrorf("revision %d of %s: %v", h.Revision(), name, err),
				"nothing was run or written; contact your secr server's administrator")
		}
		if e.doc, err = envdoc.Parse(plain); err != nil {
			return nil, integrityErrorf("revision %d of %s: %v", h.Revision(), name, err)
		}
		e.Revision, e.header = h.Revision(), h
		snap.Headers = [][]byte{r.Header} // what the cache needs to check links later
		snap.Revision.Revision, snap.Revision.KeyVersion = h.Revision(), h.KeyVersion()
		if rcpt != nil {
			e.receipt = receipt
		} else if e.receipt, err = st.SealReceipt(s.identity, g, h, key); err == nil {
			e.receiptNew = true
		} else {
			e.receipt = nil // verified in full next time
		}
	} else if mark.Rev > 0 {
		return nil, rollbackError(name, 0, mark.Rev)
	}
	snap.Org, snap.OrgID, snap.Project = st.OrgName(), st.OrgID(), project
	snap.Environment.Name, snap.Environment.KeyVersion = env.Name, env.KeyVersion
	e.snap = snap
	return e, nil
}

// recordSeen raises the rollback mark of e's environment to e's revision,
// when that is newer than the mark read before the request. It is not part
// of open: a held copy is opened while the request is out, and only what
// the client then uses is recorded.
func (s *Session) recordSeen(e *Env, marks config.Marks) {
	id := markID(e.state, e.ID)
	if e.header == nil || e.Revision <= marks.Get(s.api, id).Rev || s.seen == nil {
		return
	}
	if err := s.seen.Record(s.api, id, config.Mark{Rev: e.Revision, Hash: e.header.Hash()}); err != nil {
		s.opts.warnf("could not record the revision seen (rollback detection is weaker): %v", err)
	}
}

// checkHistory checks that headers continue the history from mark, the
// revision this machine saw last, up to newest.
func (s *Session) checkHistory(name string, mark config.Mark, raw [][]byte, newest *trust.Header) error {
	if len(raw) == 0 {
		return integrityErrorf("the server sent no history of %s since revision %d, which this machine saw last", name, mark.Rev)
	}
	headers := make([]*trust.Header, 0, len(raw))
	for _, b := range raw {
		h, err := trust.ParseHeader(b)
		if err != nil {
			return integrityErrorf("history of %s: %v", name, err)
		}
		headers = append(headers, h)
	}
	err := trust.CheckLinks(trust.Position{Revision: mark.Rev, Hash: mark.Hash}, headers)
	if errors.Is(err, trust.ErrRollback) {
		return rollbackError(name, headers[0].Revision(), mark.Rev)
	}
	if err != nil {
		return WithHint(integrityErrorf("history of %s since revision %d: %v", name, mark.Rev, err),
			"a revision was dropped, reordered or replaced: contact your secr server's administrator; do not trust this server's answers until resolved")
	}
	if last := headers[len(headers)-1]; last.Hash() != newest.Hash() {
		return integrityErrorf("history of %s: the newest header is not the revision sent (%d)", name, newest.Revision())
	}
	return nil
}

func rollbackError(name string, rev, seen int64) error {
	return WithHint(integrityErrorf("got revision %d of environment %s, older than revision %d, which this machine has already seen: the server (or the offline cache) may be replaying old secrets",
		rev, name, seen), "contact your secr server's administrator; do not trust this server's answers until resolved")
}

// tokenScope refuses a service token's environment when the target names a
// different org, project or environment: a CI job that says acme/web must
// not quietly run with another project's secrets. The names are the
// verified chain's.
func tokenScope(t Target, org, project, env string) error {
	switch {
	case t.Org != "" && t.Org != org, t.Project != "" && t.Project != project:
		return WithHint(usageErrorf("SECR_TOKEN is for %s/%s, not %s/%s", org, project, first(t.Org, org), first(t.Project, project)),
			"check --org/--project, SECR_ORG/SECR_PROJECT and .secr.json, or use a token for that project")
	case t.EnvExplicit && env != t.Env:
		return WithHint(fmt.Errorf("SECR_TOKEN is for environment %q, not %q", env, t.Env),
			"unset SECR_ENV / --env, or use a token for %q", t.Env)
	}
	return nil
}
