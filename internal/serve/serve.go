// Package serve is the `secr server` command: flags, logging, the database,
// the listener and graceful shutdown around internal/server. Only cmd/secr
// imports it, so the client's commands do not depend on the server or its
// database drivers.
package serve

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/secr-dev/secr/internal/config"

	"github.com/spf13/cobra"

	"github.com/secr-dev/secr/internal/server"
	"github.com/secr-dev/secr/internal/store/sqlstore"
)

type options struct {
	getenv           func(string) string
	stderr           io.Writer
	listen, db       string
	tlsCert, tlsKey  string
	signup           string
	logFormat        string
	shutdownDeadline time.Duration
	auditRetention   time.Duration
	insecureHTTP     bool
	trustedProxies   []string
	maxStreams       int
	streamIdle       time.Duration
}

// NewCommand returns the `secr server` command. getenv supplies the
// XDG variables that locate the default database.
func NewCommand(getenv func(string) string) *cobra.Command {
	o := &options{getenv: getenv}
	c := &cobra.Command{
		Use:   "server",
		Short: "Run a secr server (embedded SQLite by default, or PostgreSQL)",
		Long: `Run the secr API server. With no flags it serves http://127.0.0.1:7700 from a
SQLite file under $XDG_DATA_HOME/secr/ (~/.local/share/secr/secr.db).

--db takes a SQLite file path or a postgres:// URL; several servers may share
one PostgreSQL database behind a load balancer. A new database is created in
format 2 (trust model v2); one created by secr v0.1 is refused.
SIGINT or SIGTERM shuts down gracefully. Request logs (stderr) never contain
bodies, tokens or secret material.

--signup open (default) lets anyone create an account; --signup closed refuses
sign-ups, for a server whose users already exist.`,
		Example: `  secr server
  secr server --listen 0.0.0.0:7700 --tls-cert cert.pem --tls-key key.pem
  secr server --db postgres://secr@db.internal/secr --signup closed`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			o.stderr = c.ErrOrStderr()
			return o.run(c.Context())
		},
	}
	c.Flags().StringVar(&o.listen, "listen", "127.0.0.1:7700", "address to listen on (port 0 picks a free port)")
	c.Flags().StringVar(&o.db, "db", "", "SQLite file or postgres:// URL (default $XDG_DATA_HOME/secr/secr.db)")
	c.Flags().StringVar(&o.tlsCert, "tls-cert", "", "TLS certificate file (PEM); with --tls-key serves HTTPS")
	c.Flags().StringVar(&o.tlsKey, "tls-key", "", "TLS private key file (PEM)")
	c.Flags().StringVar(&o.signup, "signup", "open", "who may sign up: open or closed")
	c.Flags().StringVar(&o.logFormat, "log-format", "text", "log format: text or json")
	c.Flags().BoolVar(&o.insecureHTTP, "insecure-http", false, "allow plain HTTP on a non-loopback address (only behind a TLS-terminating proxy)")
	c.Flags().StringSliceVar(&o.trustedProxies, "trusted-proxy", nil, "CIDR (or address) of a reverse proxy whose X-Forwarded-For names the client; repeatable")
	c.Flags().IntVar(&o.maxStreams, "max-streams", 10, "most event streams (secr run --watch) one session or token may hold open on this server; 0 for no cap")
	c.Flags().DurationVar(&o.streamIdle, "stream-idle", time.Hour, "end an event stream that carried no change for this long (clients reconnect)")
	c.Flags().DurationVar(&o.auditRetention, "audit-retention", 0, "delete audit log entries older than this, checked at start and hourly (0: keep forever)")
	c.Flags().DurationVar(&o.shutdownDeadline, "shutdown-timeout", 10*time.Second, "how long to let requests finish on shutdown")
	return c
}

func (o *options) run(ctx context.Context) error {
	if o.signup != "open" && o.signup != "closed" {
		return usageErrorf("--signup must be open or closed, not %q", o.signup)
	}
	if (o.tlsCert == "") != (o.tlsKey == "") {
		return usageErrorf("--tls-cert and --tls-key go together")
	}
	if o.tlsCert == "" && !o.insecureHTTP && !loopbackListen(o.listen) {
		return usageErrorf("refusing to serve plain HTTP on %s, which is not a loopback address: sessions and "+
			"token auth keys would cross the network in cleartext; use --tls-cert and --tls-key, or --insecure-http "+
			"behind a TLS-terminating proxy", o.listen)
	}
	trusted, err := parsePrefixes(o.trustedProxies)
	if err != nil {
		return err
	}
	if o.maxStreams < 0 {
		return usageErrorf("--max-streams must be 0 (no cap) or more")
	}
	maxStreams := o.maxStreams
	if maxStreams == 0 {
		maxStreams = -1 // server.Config: negative means no cap
	}
	if o.auditRetention < 0 {
		return usageErrorf("--audit-retention must be 0 (keep forever) or more")
	}
	if o.streamIdle <= 0 {
		return usageErrorf("--stream-idle must be positive")
	}
	var handler slog.Handler = slog.NewTextHandler(o.stderr, nil)
	if o.logFormat == "json" {
		handler = slog.NewJSONHandler(o.stderr, nil)
	} else if o.logFormat != "text" {
		return usageErrorf("--log-format must be text or json")
	}
	log := slog.New(handler)

	dbPath := o.db
	if dbPath == "" {
		dirs, err := config.ResolveDirs(o.getenv)
		if err != nil {
			return fmt.Errorf("no --db given and no data directory: %w", err)
		}
		dbPath = filepath.Join(dirs.Data, "secr.db")
	}
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	st, err := sqlstore.Open(ctx, dbPath)
	if err != nil {
		return err
	}
	defer st.Close()

	ln, err := net.Listen("tcp", o.listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", o.listen, err)
	}
	scheme := "http"
	if o.tlsCert != "" {
		scheme = "https"
	}
	addr := ln.Addr().(*net.TCPAddr)
	if !addr.IP.IsLoopback() && scheme == "http" {
		log.Warn("serving plain HTTP on a non-loopback address (--insecure-http): only safe behind a TLS-terminating proxy")
	}
	dbDesc := dbPath
	if sqlstore.IsPostgres(dbPath) {
		dbDesc = "postgres"
	}
	apiServer := server.New(server.Config{
		Store: st, Logger: log, SignupOpen: o.signup == "open", TrustedProxies: trusted,
		MaxStreamsPerPrincipal: maxStreams, StreamIdle: o.streamIdle, AuditRetention: o.auditRetention,
	})
	auditTicker := time.NewTicker(time.Hour)
	defer auditTicker.Stop()
	go apiServer.RetainAudit(ctx, auditTicker.C)
	// Revisions written, and sessions, tokens or grants ended, through
	// other replicas (PostgreSQL) reach this one's event streams. After a
	// reconnect every stream re-checks, since notifications were lost.
	go st.Listen(ctx, sqlstore.Listener{
		Revision:      apiServer.Publish,
		AccessChanged: apiServer.AccessChanged,
		Listening:     apiServer.RecheckStreams,
		Error: func(err error) {
			log.Warn("change listener reconnecting", "error", err.Error())
		},
	})
	srv := &http.Server{
		Handler:           apiServer,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       60 * time.Second,
		IdleTimeout:       120 * time.Second,
		ErrorLog:          slog.NewLogLogger(handler, slog.LevelWarn),
	}
	srv.RegisterOnShutdown(apiServer.CloseStreams)
	log.Info("secr server listening", "url", fmt.Sprintf("%s://%s", scheme, addr), "db", dbDesc, "signup", o.signup)

	errc := make(chan error, 1)
	go func() {
		if scheme == "https" {
			errc <- srv.ServeTLS(ln, o.tlsCert, o.tlsKey)
		} else {
			errc <- srv.Serve(ln)
		}
	}()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	log.Info("shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), o.shutdownDeadline)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("shutdown: %w", err)
	}
	return nil
}

// parsePrefixes parses --trusted-proxy values: CIDRs, or single addresses.
func parsePrefixes(vals []string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, v := range vals {
		if p, err := netip.ParsePrefix(v); err == nil {
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(v)
		if err != nil {
			return nil, usageErrorf("--trusted-proxy %q is not a CIDR or an IP address", v)
		}
		out = append(out, netip.PrefixFrom(a, a.BitLen()))
	}
	return out, nil
}

// loopbackListen reports whether a --listen address binds only loopback:
// its host is "localhost" or a loopback IP. An empty host, 0.0.0.0 and ::
// mean every interface; any other name is not trusted to be loopback (it is
// not resolved here).
func loopbackListen(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// usageError is a wrong flag value; secr exits 2 for it (the CLI looks for
// the IsUsage method, since it does not import this package).
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }
func (e *usageError) IsUsage() bool { return true }

func usageErrorf(format string, args ...any) error {
	return &usageError{fmt.Sprintf(format, args...)}
}
