// Command stationd is the enrollment station daemon: it drives the booth's
// devices, runs enrollment sessions, keeps finished packets in its outbox
// and uploads them, and serves the operator UI on 127.0.0.1.
//
//	stationd [-config stationd.toml] [-listen 127.0.0.1:8787]
//
// Without -config it runs the simulated station of `make run`.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/openenroll/stationd/devices"
	"github.com/openenroll/stationd/station/api"
	"github.com/openenroll/stationd/station/buildinfo"
	"github.com/openenroll/stationd/station/config"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "stationd:", err)
		os.Exit(1)
	}
}

// run is stationd from start to stop; it returns when ctx is cancelled
// (SIGINT, SIGTERM) after closing the devices, or on a start-up error.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("stationd", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath := fs.String("config", "", "configuration file (TOML); default: the simulated station")
	listen := fs.String("listen", "", "override [http] listen, e.g. 127.0.0.1:0 for any free port")
	version := fs.Bool("version", false, "print the version and exit")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *version {
		bi := buildinfo.Get()
		fmt.Fprintf(stdout, "stationd %s (commit %s, %s)\n", bi.Version, bi.Commit, bi.GoVersion)
		return nil
	}
	cfg := config.Default()
	if *cfgPath != "" {
		var err error
		if cfg, err = config.Load(*cfgPath); err != nil {
			return err
		}
	}
	if *listen != "" {
		cfg.HTTP.Listen = *listen
	}
	log := newLogger(cfg.Log, stderr)
	slog.SetDefault(log)

	regOpts := cfg.RegistryOptions()
	regOpts.Logger = log.With("part", "registry")
	reg := devices.NewRegistry(regOpts)
	for _, d := range cfg.Devices {
		if err := reg.Open(d.DeviceConfig()); err != nil {
			reg.Close()
			return err
		}
	}

	st, err := startStation(ctx, cfg, reg, log)
	if err != nil {
		reg.Close()
		return err
	}
	defer st.close()

	auth, err := api.NewAuth(cfg.Auth.AuthOptions())
	if err != nil {
		reg.Close()
		return fmt.Errorf("[auth]: %w", err)
	}
	srv := api.New(api.Options{Registry: reg, Logger: log.With("part", "api"), StationID: cfg.Station.ID,
		Bus: st.bus, Commands: st.commands(), Auth: auth, Images: st.ctl.Image})
	ln, err := net.Listen("tcp", cfg.HTTP.Listen)
	if err != nil {
		reg.Close()
		return fmt.Errorf("listening on %s ([http] listen): %w", cfg.HTTP.Listen, err)
	}
	addr := ln.Addr().String()
	httpSrv := &http.Server{Handler: srv.Handler(), ReadHeaderTimeout: 10 * time.Second}
	served := make(chan error, 1)
	go func() { served <- httpSrv.Serve(ln) }()
	go srv.Run(ctx)

	// The lines a person or a script looks for. The token is printed only
	// here, never logged: whoever reads this terminal runs the booth.
	if t := auth.Token(); t != "" {
		fmt.Fprintf(stdout, "stationd: login token: %s\n", t)
	}
	fmt.Fprintf(stdout, "stationd: operator UI at http://%s/\n", addr)
	log.Info("stationd started", "station", cfg.Station.ID, "listen", addr, "devices", len(cfg.Devices),
		"config", cfgName(cfg.File), "version", buildinfo.Get().Version)

	select {
	case <-ctx.Done():
	case err := <-served:
		reg.Close()
		return fmt.Errorf("http server: %w", err)
	}
	// Stop: refuse new requests, end websockets, then close the devices,
	// all within the configured shutdown time.
	log.Info("stopping")
	start := time.Now()
	sctx, cancel := context.WithTimeout(context.Background(), cfg.HTTP.ShutdownTimeout.Duration)
	defer cancel()
	srv.Close()
	if err := httpSrv.Shutdown(sctx); err != nil {
		httpSrv.Close()
	}
	closed := make(chan error, 1)
	go func() { closed <- reg.Close() }()
	select {
	case err := <-closed:
		if err != nil {
			log.Warn("closing devices", "err", err)
		}
	case <-sctx.Done():
		log.Warn("devices did not close in time; exiting anyway", "timeout", cfg.HTTP.ShutdownTimeout.Duration)
	}
	log.Info("stopped", "took", time.Since(start).Round(time.Millisecond))
	if err := <-served; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

func cfgName(f string) string {
	if f == "" {
		return "(built-in defaults)"
	}
	return f
}

func newLogger(c config.Log, w io.Writer) *slog.Logger {
	var lvl slog.Level
	lvl.UnmarshalText([]byte(c.Level)) // validated by config
	opts := &slog.HandlerOptions{Level: lvl}
	if c.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}
