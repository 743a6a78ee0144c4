package main

import (
	"context"
	"crypto/ed25519"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/openenroll/stationd/devices"
	"github.com/openenroll/stationd/devices/smartcard/emrtd"
	"github.com/openenroll/stationd/devices/smartcard/lds"
	"github.com/openenroll/stationd/internal/memtrim"
	"github.com/openenroll/stationd/station/api"
	"github.com/openenroll/stationd/station/bus"
	"github.com/openenroll/stationd/station/config"
	"github.com/openenroll/stationd/station/enroll"
	"github.com/openenroll/stationd/station/outbox"
	"github.com/openenroll/stationd/station/session"
	"github.com/openenroll/stationd/station/tech"
	"github.com/openenroll/stationd/station/uplink"
)

// station is everything between the devices and the API: sessions, the
// outbox, the uplink and the capture flow.
type station struct {
	bus      *bus.Bus
	ob       *outbox.Outbox
	sessions *session.Manager
	ctl      *enroll.Controller
	tech     *tech.Service
	counters *tech.Counters
	cancel   context.CancelFunc
	wg       sync.WaitGroup
}

// purgeEvery is how often delivered packets past their retention are deleted.
const purgeEvery = 10 * time.Minute

func startStation(ctx context.Context, cfg *config.Config, reg *devices.Registry, log *slog.Logger) (*station, error) {
	if err := os.MkdirAll(cfg.Station.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("data directory ([station] data_dir): %w", err)
	}
	ob, err := outbox.Open(cfg.OutboxPath(), outbox.Options{
		QuotaBytes: cfg.Outbox.QuotaMB << 20, Retention: cfg.Outbox.Retention.Duration, Logger: log.With("part", "outbox"),
	})
	if err != nil {
		return nil, fmt.Errorf("outbox: %w", err)
	}
	st := &station{bus: bus.New(), ob: ob}
	// Per-device counters for the technician console, from the first
	// device event on.
	st.counters = tech.NewCounters(reg, st.bus)
	if err := st.counters.LoadFile(filepath.Join(cfg.Station.DataDir, "device-counters.json")); err != nil {
		log.Warn("technician counters start again from zero", "err", err)
	}
	st.tech, err = tech.New(tech.Options{Registry: reg, Bus: st.bus,
		Dir: filepath.Join(cfg.Station.DataDir, "devices"), Logger: log.With("part", "tech")})
	if err != nil {
		ob.Close()
		return nil, fmt.Errorf("technician console: %w", err)
	}
	var fin session.Finalizer
	if cfg.Packet.SigningKey != "" && cfg.Packet.CentralPublicKey != "" {
		popts, err := cfg.PacketConfig().Options()
		if err != nil {
			ob.Close()
			return nil, fmt.Errorf("[packet] keys: %w", err)
		}
		fin = &enroll.PacketFinalizer{Options: popts, Outbox: ob}
	} else {
		log.Warn("no [packet] signing_key and central_public_key: enrollments can be captured but not finalized")
	}
	st.sessions, err = session.Open(session.Options{Dir: filepath.Join(cfg.Station.DataDir, "sessions"), Finalizer: fin,
		Observer: enroll.SessionObserver(st.bus), Logger: log.With("part", "session")})
	if err != nil {
		ob.Close()
		return nil, err
	}
	// A crash while finalizing leaves the built packet with its session:
	// queue it now, before anything else.
	if err := st.sessions.Recover(ctx); err != nil {
		log.Error("finishing interrupted enrollments", "err", err)
	}
	var cscas []*x509.Certificate
	for _, f := range cfg.Card.CSCAFiles {
		certs, err := emrtd.ReadCerts(f)
		if err != nil {
			ob.Close()
			return nil, fmt.Errorf("[card] csca_files: %w", err)
		}
		cscas = append(cscas, certs...)
	}
	var ds *lds.Signer
	if cfg.Card.DSCert != "" {
		if ds, err = enroll.LoadDocumentSigner(cfg.Card.DSCert, cfg.Card.DSKey); err != nil {
			ob.Close()
			return nil, fmt.Errorf("[card] ds_cert/ds_key: %w", err)
		}
	}
	st.ctl = enroll.New(enroll.Options{CSCAs: cscas, DocumentSigner: ds, Calibration: st.tech.Calibration, DeviceBusy: func(id string) bool { _, busy := st.tech.Running(id); return busy }, Registry: reg, Sessions: st.sessions, Bus: st.bus, Outbox: ob,
		StationID: cfg.Station.ID, Policy: cfg.Session.Policy(), FingerTimeout: cfg.Session.FingerTimeout.Duration,
		MinPacketRoom: 4 << 20, Usage: st.counters, Logger: log.With("part", "enroll")})

	rctx, cancel := context.WithCancel(context.Background())
	st.cancel = cancel
	st.wg.Add(1)
	go func() {
		defer st.wg.Done()
		st.ctl.Run(rctx)
	}()
	st.wg.Add(1)
	go func() {
		defer st.wg.Done()
		st.tech.KeepCalibration(rctx)
	}()
	st.wg.Add(1)
	go func() {
		defer st.wg.Done()
		memtrim.Run(rctx, time.Minute, log.With("part", "memory"))
	}()
	st.wg.Add(1)
	go func() {
		defer st.wg.Done()
		if err := st.counters.Run(rctx); err != nil {
			log.Warn("technician counters not saved", "err", err)
		}
	}()
	st.wg.Add(1)
	go func() {
		defer st.wg.Done()
		t := time.NewTicker(purgeEvery)
		defer t.Stop()
		for {
			if n, err := ob.Purge(rctx); err != nil && rctx.Err() == nil {
				log.Warn("outbox purge", "err", err)
			} else if n > 0 {
				log.Info("outbox purged delivered packets", "count", n)
			}
			select {
			case <-rctx.Done():
				return
			case <-t.C:
			}
		}
	}()
	if cfg.Uplink.URL != "" {
		ucfg, err := uplinkConfig(cfg, st, log)
		if err != nil {
			st.close()
			return nil, err
		}
		client, err := uplink.NewClient(ucfg, ob)
		if err != nil {
			st.close()
			return nil, fmt.Errorf("uplink: %w", err)
		}
		st.wg.Add(1)
		go func() {
			defer st.wg.Done()
			client.Run(rctx)
		}()
		st.wg.Add(1)
		go func() {
			defer st.wg.Done()
			st.reportUplink(rctx, client)
		}()
	} else {
		st.wg.Add(1)
		go func() {
			defer st.wg.Done()
			st.reportUplink(rctx, nil)
		}()
	}
	return st, nil
}

func uplinkConfig(cfg *config.Config, st *station, log *slog.Logger) (uplink.ClientConfig, error) {
	key, err := uplink.LoadPrivateKey(cfg.Packet.SigningKey)
	if err != nil {
		return uplink.ClientConfig{}, fmt.Errorf("[packet] signing_key: %w", err)
	}
	var centrals []ed25519.PublicKey
	for _, p := range cfg.Uplink.CentralKeys {
		k, err := uplink.LoadPublicKey(p)
		if err != nil {
			return uplink.ClientConfig{}, fmt.Errorf("[uplink] central_keys: %w", err)
		}
		centrals = append(centrals, k)
	}
	uc := uplink.ClientConfig{URL: cfg.Uplink.URL, StationID: cfg.Station.ID, StationKey: key, CentralKeys: centrals,
		Window: cfg.Uplink.Window, RateLimit: cfg.Uplink.RateLimitKBps * 1024, Logger: log.With("part", "uplink"),
		OnAck: func(id string) {
			st.bus.Publish(bus.Message{Type: "uplink.ack", Payload: map[string]string{"packet_id": id}})
			if s, err := st.ob.Status(); err == nil {
				st.bus.Publish(bus.Message{Type: "outbox.status", Payload: s})
			}
		},
		OnReject: func(id, reason string) {
			st.bus.Publish(bus.Message{Type: "uplink.rejected", Payload: map[string]string{"packet_id": id, "reason": reason}})
		},
	}
	if cfg.Uplink.CAFile != "" || cfg.Uplink.CertFile != "" {
		tc := &tls.Config{MinVersion: tls.VersionTLS12}
		if cfg.Uplink.CAFile != "" {
			pem, err := os.ReadFile(cfg.Uplink.CAFile)
			if err != nil {
				return uc, fmt.Errorf("[uplink] ca_file: %w", err)
			}
			tc.RootCAs = x509.NewCertPool()
			if !tc.RootCAs.AppendCertsFromPEM(pem) {
				return uc, fmt.Errorf("[uplink] ca_file %s: no certificates", cfg.Uplink.CAFile)
			}
		}
		if cfg.Uplink.CertFile != "" {
			c, err := tls.LoadX509KeyPair(cfg.Uplink.CertFile, cfg.Uplink.KeyFile)
			if err != nil {
				return uc, fmt.Errorf("[uplink] cert_file/key_file: %w", err)
			}
			tc.Certificates = []tls.Certificate{c}
		}
		uc.TLS = tc
	}
	return uc, nil
}

// uplinkStatus is the payload of uplink.status events.
type uplinkStatus struct {
	State     string    `json:"state"` // connected, connecting, off
	LastSync  time.Time `json:"last_sync,omitzero"`
	LastError string    `json:"last_error,omitempty"`
	Acked     int64     `json:"acked"`
}

// uplinkEvery is how often the link's state is checked for the UI; it is
// also republished at least every uplinkRepeat so a browser that connects
// later learns it without asking.
const (
	uplinkEvery  = time.Second
	uplinkRepeat = 5 * time.Second
)

// reportUplink publishes uplink.status when the link's state changes.
func (st *station) reportUplink(ctx context.Context, c *uplink.Client) {
	t := time.NewTicker(uplinkEvery)
	defer t.Stop()
	var last uplinkStatus
	var sent time.Time
	for {
		cur := uplinkStatus{State: "off"}
		if c != nil {
			s := c.Stats()
			cur = uplinkStatus{State: "connecting", LastSync: s.LastAck, LastError: s.LastError, Acked: s.Acked}
			if s.Connected {
				cur.State, cur.LastError = "connected", ""
			}
		}
		if cur != last || time.Since(sent) >= uplinkRepeat {
			st.bus.Publish(bus.Message{Type: "uplink.status", Payload: cur})
			last, sent = cur, time.Now()
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// commands are every websocket command the station answers.
func (st *station) commands() map[string]api.CommandFunc {
	cmds := st.ctl.Commands()
	for k, f := range st.tech.Commands() {
		cmds[k] = f
	}
	for k, f := range st.counters.Commands() {
		cmds[k] = f
	}
	return cmds
}

// close stops the uplink and the purger and closes the outbox. Sessions
// need no closing: every change is already on disk.
func (st *station) close() {
	if st.cancel != nil {
		st.cancel()
	}
	if st.ctl != nil {
		st.ctl.Close()
	}
	st.wg.Wait()
	st.bus.Close()
	st.ob.Close()
}
