package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/openenroll/stationd/devices"
	"github.com/openenroll/stationd/station/buildinfo"
	"github.com/openenroll/stationd/station/bus"
	"github.com/openenroll/stationd/station/ui"
)

// Websocket timing, in the manner of gorilla's chat example.
const (
	// writeWait bounds one write to a client; a browser that cannot take a
	// message in this time is gone or hopelessly slow and is dropped.
	writeWait = 5 * time.Second
	// pongWait is how long a client may stay silent (no pong, no message)
	// before the connection is considered dead.
	pongWait = 30 * time.Second
	// pingPeriod must be shorter than pongWait so a live client always has
	// a ping to answer in time.
	pingPeriod = pongWait * 9 / 10
	// clientQueue is each client's queue of device events; a client that
	// falls this far behind loses the oldest and gets a fresh snapshot.
	clientQueue = 256
)

// Options configure a Server.
type Options struct {
	Registry  *devices.Registry
	Logger    *slog.Logger
	StationID string
	// Bus, when set, is followed by every websocket client: session
	// events, quality results, previews, outbox and uplink status.
	Bus *bus.Bus
	// Commands answer client messages by type (beyond ping and
	// devices.list). The reply is sent as TYPE.result with the returned
	// payload, or as an error envelope.
	Commands map[string]CommandFunc
	// Auth, when set, requires a login for /ws and /api (see auth.go);
	// nil leaves the API open to anyone who can reach the port.
	Auth *Auth
	// RateLimit bounds each websocket client's messages; zero: defaults.
	RateLimit RateLimit
	// UI is served at /: nil serves the embedded operator UI (station/ui).
	UI http.Handler
	// NoUI serves no UI at all (a headless station driven by stationctl).
	NoUI bool
	// TechnicianPrefixes are the command types (by prefix) only a
	// technician may run; nil means "device." and "tech.".
	TechnicianPrefixes []string
	// Images, when set, serves sessions' stored images at
	// GET /api/sessions/{session}/images/{file} (login required).
	Images ImageFunc
}

// CommandFunc handles one client command. It runs on its own goroutine and
// may take as long as the action does (a capture waits for a finger); ctx
// ends when the client disconnects or stationd stops.
type CommandFunc func(ctx context.Context, payload json.RawMessage) (any, error)

// CodedError lets a command choose the error code the client sees.
type CodedError interface {
	error
	Code() string // stable: "refused", "not_found", "bad_request", "device_unavailable"...
}

// maxInflight bounds the commands one client may have running at once; a
// client that asks for more is told to wait rather than exhausting stationd.
const maxInflight = 8

// Server serves stationd's local HTTP API.
type Server struct {
	opts    Options
	log     *slog.Logger
	mux     *http.ServeMux
	metrics *prometheus.Registry
	up      websocket.Upgrader

	events  *prometheus.CounterVec
	clients prometheus.Gauge

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	mu     sync.Mutex
	conns  map[*websocket.Conn]struct{}
}

// New returns a server for the given registry. Call Run to follow the
// registry's events for metrics, and Close to end websocket connections.
func New(opts Options) *Server {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Server{opts: opts, log: log, mux: http.NewServeMux(), metrics: prometheus.NewRegistry(),
		ctx: ctx, cancel: cancel, conns: map[*websocket.Conn]struct{}{}}
	s.up = websocket.Upgrader{ReadBufferSize: 4096, WriteBufferSize: 16384, CheckOrigin: sameOrigin}
	s.registerMetrics()
	s.mux.HandleFunc("GET /healthz", s.healthz)
	s.mux.Handle("GET /metrics", promhttp.HandlerFor(s.metrics, promhttp.HandlerOpts{Registry: s.metrics}))
	s.mux.HandleFunc("GET /api/devices", s.guard(s.apiDevices))
	s.mux.HandleFunc("POST /api/login", s.apiLogin)
	s.mux.HandleFunc("POST /api/logout", s.apiLogout)
	s.mux.HandleFunc("GET /api/whoami", s.apiWhoami)
	s.mux.HandleFunc("GET /ws", s.guard(s.ws))
	s.mux.HandleFunc("GET /api/sessions/{session}/images/{file}", s.guard(s.apiImage))
	if !opts.NoUI {
		h := opts.UI
		if h == nil {
			h = ui.Handler()
		}
		s.mux.Handle("GET /", h)
	}
	s.opts.RateLimit = opts.RateLimit.withDefaults()
	if s.opts.TechnicianPrefixes == nil {
		s.opts.TechnicianPrefixes = []string{"device.", "tech."}
	}
	return s
}

// Handler returns the HTTP handler to serve.
func (s *Server) Handler() http.Handler { return s.mux }

// Mux lets other parts of the station add routes (the operator UI).
func (s *Server) Mux() *http.ServeMux { return s.mux }

// Metrics lets other parts of the station register their collectors.
func (s *Server) Metrics() prometheus.Registerer { return s.metrics }

// sameOrigin accepts clients without an Origin header (programs such as
// stationctl) and browsers whose page came from this very server; a page
// from any other site may not drive the station (cross-site websocket
// hijacking).
func sameOrigin(r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return true
	}
	u, err := url.Parse(origin)
	return err == nil && u.Host == r.Host
}

func (s *Server) registerMetrics() {
	bi := buildinfo.Get()
	build := prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "stationd_build_info", Help: "Build of the running stationd (always 1).",
		ConstLabels: prometheus.Labels{"version": bi.Version, "commit": bi.Commit, "goversion": bi.GoVersion},
	})
	build.Set(1)
	s.events = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "stationd_device_events_total", Help: "Device events by type (device.added, device.removed, device.state).",
	}, []string{"type"})
	s.clients = prometheus.NewGauge(prometheus.GaugeOpts{Name: "stationd_ws_clients", Help: "Open websocket connections."})
	s.metrics.MustRegister(build, s.events, s.clients, deviceCollector{s},
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
}

// deviceCollector reports each device's state from the registry at scrape
// time, so the gauge can never drift from the truth.
type deviceCollector struct{ s *Server }

var deviceStateDesc = prometheus.NewDesc("stationd_device_state",
	"1 for the state each device is in, 0 for the others.", []string{"device", "kind", "driver", "state"}, nil)

func (c deviceCollector) Describe(ch chan<- *prometheus.Desc) { ch <- deviceStateDesc }

func (c deviceCollector) Collect(ch chan<- prometheus.Metric) {
	if c.s.opts.Registry == nil {
		return
	}
	for _, st := range c.s.opts.Registry.Snapshot() {
		for s := devices.StateAbsent; s <= devices.StateNeedsCalibration; s++ {
			v := 0.0
			if st.State == s {
				v = 1
			}
			ch <- prometheus.MustNewConstMetric(deviceStateDesc, prometheus.GaugeValue, v,
				st.Info.ID, string(st.Info.Kind), st.Info.Driver, s.String())
		}
	}
}

// Run counts registry events for /metrics until ctx ends or Close.
func (s *Server) Run(ctx context.Context) {
	if s.opts.Registry == nil {
		return
	}
	sub := s.opts.Registry.Subscribe(0)
	defer sub.Close()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-s.ctx.Done():
			cancel()
		case <-ctx.Done():
		}
	}()
	for {
		ev, err := sub.Next(ctx)
		if err != nil {
			return
		}
		s.events.WithLabelValues(string(ev.Type)).Inc()
	}
}

// Close ends every websocket connection and waits for their goroutines.
func (s *Server) Close() {
	s.cancel()
	s.mu.Lock()
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
}

func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{"status": "ok", "station": s.opts.StationID, "build": buildinfo.Get()})
}

func (s *Server) apiDevices(w http.ResponseWriter, r *http.Request, _ User) {
	w.Header().Set("Content-Type", "application/json")
	var list []devices.Status
	if s.opts.Registry != nil {
		list = s.opts.Registry.Snapshot()
	}
	if list == nil {
		list = []devices.Status{}
	}
	json.NewEncoder(w).Encode(map[string]any{"devices": list})
}

// conn is one websocket client.
type conn struct {
	s        *Server
	ws       *websocket.Conn
	send     chan Envelope // replies from the read pump to the write pump
	log      *slog.Logger
	inflight chan struct{} // one token per running command
	ctx      context.Context
	cancel   context.CancelFunc
	cmds     sync.WaitGroup
	user     User
	limit    *bucket
	ackLimit *bucket
	// Preview flow control (see previewFlow): at most window preview
	// frames sent and not yet acknowledged; 0 means no flow control.
	window  atomic.Int32
	unacked atomic.Int32
	acked   chan struct{} // wakes the write pump when frames are acknowledged
}

func (s *Server) ws(w http.ResponseWriter, r *http.Request, u User) {
	ws, err := s.up.Upgrade(w, r, nil)
	if err != nil {
		s.log.Warn("websocket upgrade refused", "remote", r.RemoteAddr, "origin", r.Header.Get("Origin"), "err", err)
		return // the upgrader has written the HTTP error
	}
	s.mu.Lock()
	if s.ctx.Err() != nil {
		s.mu.Unlock()
		ws.Close()
		return
	}
	s.conns[ws] = struct{}{}
	s.wg.Add(2)
	s.mu.Unlock()
	s.clients.Inc()
	c := &conn{s: s, ws: ws, send: make(chan Envelope, 2*maxInflight), log: s.log.With("remote", r.RemoteAddr),
		inflight: make(chan struct{}, maxInflight), user: u, limit: newBucket(s.opts.RateLimit, time.Now()),
		ackLimit: newBucket(RateLimit{PerSecond: maxAcksPerSecond, Burst: 2 * maxAcksPerSecond}, time.Now()), acked: make(chan struct{}, 1)}
	c.ctx, c.cancel = context.WithCancel(context.WithValue(s.ctx, ctxKey{}, u))
	var sub *devices.Subscription
	if s.opts.Registry != nil {
		sub = s.opts.Registry.Subscribe(clientQueue)
	}
	done := make(chan struct{})
	go func() {
		defer s.wg.Done()
		c.readPump(done)
		c.cancel() // the client is gone: stop its running commands
		c.cmds.Wait()
	}()
	go func() {
		defer s.wg.Done()
		c.writePump(done, sub)
		if sub != nil {
			sub.Close()
		}
		ws.Close()
		s.mu.Lock()
		delete(s.conns, ws)
		s.mu.Unlock()
		s.clients.Dec()
	}()
}

// readPump reads client commands and queues their replies. It closes done
// when the client goes away.
func (c *conn) readPump(done chan struct{}) {
	defer close(done)
	c.ws.SetReadLimit(MaxMessageBytes)
	c.ws.SetReadDeadline(time.Now().Add(pongWait))
	c.ws.SetPongHandler(func(string) error { return c.ws.SetReadDeadline(time.Now().Add(pongWait)) })
	refusedInRow := 0
	for {
		mt, msg, err := c.ws.ReadMessage()
		if err != nil {
			if websocket.IsUnexpectedCloseError(err, websocket.CloseGoingAway, websocket.CloseNormalClosure) {
				c.log.Info("websocket client gone", "err", err)
			}
			return
		}
		c.ws.SetReadDeadline(time.Now().Add(pongWait))
		var req Envelope
		var derr error
		if mt == websocket.TextMessage {
			req, derr = DecodeEnvelope(msg)
		}
		limit := c.limit
		if derr == nil && req.Type == "preview.ack" {
			limit = c.ackLimit // one per frame shown: counted apart from commands
		}
		if !limit.take(time.Now()) {
			refusedInRow++
			if refusedInRow >= c.s.opts.RateLimit.Disconnect {
				c.log.Warn("websocket client dropped: ignores rate limiting", "user", c.user.Name)
				c.ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.ClosePolicyViolation, "rate limit"), time.Now().Add(time.Second))
				return
			}
			if refusedInRow == 1 {
				c.reply(errorEnvelope("", "rate_limited", fmt.Sprintf("more than %g messages a second: slow down", c.s.opts.RateLimit.PerSecond)))
			}
			continue
		}
		refusedInRow = 0
		if mt != websocket.TextMessage {
			c.reply(errorEnvelope("", "bad_message", "commands are JSON text messages"))
			continue
		}
		if derr != nil {
			c.reply(errorEnvelope("", "bad_message", derr.Error()))
			continue
		}
		if c.previewFlow(req) {
			continue
		}
		if e, ok := c.s.handleQuick(req); ok {
			c.reply(e)
			continue
		}
		c.run(req)
	}
}

// run starts a command on its own goroutine, within the client's limit.
func (c *conn) run(req Envelope) {
	fn, ok := c.s.opts.Commands[req.Type]
	if !ok {
		c.reply(errorEnvelope(req.ID, "unknown_type", "no such command: "+req.Type))
		return
	}
	if c.user.Role != RoleTechnician {
		for _, p := range c.s.opts.TechnicianPrefixes {
			if strings.HasPrefix(req.Type, p) {
				c.reply(errorEnvelope(req.ID, "forbidden", req.Type+" is for technicians: log in with a technician account"))
				return
			}
		}
	}
	select {
	case c.inflight <- struct{}{}:
	default:
		c.reply(errorEnvelope(req.ID, "busy", fmt.Sprintf("more than %d commands running; wait for a reply", maxInflight)))
		return
	}
	c.cmds.Add(1)
	go func() {
		defer c.cmds.Done()
		defer func() { <-c.inflight }()
		out, err := fn(c.ctx, req.Payload)
		if err != nil {
			code := "failed"
			if ce, ok := err.(CodedError); ok {
				code = ce.Code()
			}
			c.reply(errorEnvelope(req.ID, code, err.Error()))
			return
		}
		e, err := NewEnvelope(req.Type+".result", req.ID, out)
		if err != nil {
			e = errorEnvelope(req.ID, "failed", err.Error())
		}
		c.reply(e)
	}()
}

func (c *conn) reply(e Envelope) {
	select {
	case c.send <- e:
	default:
		// A client that sends commands faster than it reads replies is
		// misbehaving; drop the reply rather than block reading.
		c.log.Warn("websocket reply dropped: client not reading", "type", e.Type)
	}
}

func errorEnvelope(id, code, msg string) Envelope {
	e, _ := NewEnvelope("error", id, ErrorPayload{Code: code, Message: msg})
	return e
}

// handleQuick answers the commands that need no goroutine.
func (s *Server) handleQuick(req Envelope) (Envelope, bool) {
	switch req.Type {
	case "ping":
		e, _ := NewEnvelope("pong", req.ID, nil)
		return e, true
	case "devices.list":
		e, _ := NewEnvelope("devices.list.result", req.ID, s.snapshot())
		return e, true
	}
	return Envelope{}, false
}

// DevicesPayload is the body of "devices.snapshot" and "devices.list.result".
type DevicesPayload struct {
	Devices []devices.Status `json:"devices"`
}

func (s *Server) snapshot() DevicesPayload {
	p := DevicesPayload{Devices: []devices.Status{}}
	if s.opts.Registry != nil {
		p.Devices = append(p.Devices, s.opts.Registry.Snapshot()...)
	}
	return p
}

// writePump is the only writer of the connection: a hello with the device
// snapshot, then device events, replies and pings.
func (c *conn) writePump(done chan struct{}, sub *devices.Subscription) {
	ticker := time.NewTicker(pingPeriod)
	defer ticker.Stop()
	hello, _ := NewEnvelope("hello", "", map[string]any{
		"protocol": ProtocolVersion, "station": c.s.opts.StationID, "build": buildinfo.Get(), "devices": c.s.snapshot().Devices,
		"user": c.user, "commands": c.s.commandNames(),
	})
	if c.write(hello) != nil {
		return
	}
	events := make(chan devices.Event)
	eventsDone := events // closed when the event goroutine ends
	ctx, cancel := context.WithCancel(c.s.ctx)
	defer cancel()
	if sub == nil {
		close(events)
		events = nil
	} else {
		go func() {
			defer close(events)
			for {
				ev, err := sub.Next(ctx)
				if err != nil {
					return
				}
				select {
				case events <- ev:
				case <-ctx.Done():
					return
				}
			}
		}()
	}
	msgs := make(chan busMsg)
	busDone := msgs // closed when the bus goroutine ends
	if c.s.opts.Bus != nil {
		bsub := c.s.opts.Bus.Subscribe(clientQueue)
		go func() {
			defer close(msgs)
			defer bsub.Close()
			for {
				m, missed, err := bsub.Next(ctx)
				if err != nil {
					return
				}
				select {
				case msgs <- busMsg{m, missed}:
				case <-ctx.Done():
					return
				}
			}
		}()
	} else {
		close(msgs)
		msgs = nil
	}
	defer func() {
		cancel()
		for range eventsDone { // let the event goroutines finish
		}
		for range busDone {
		}
	}()
	held := map[string]bus.Message{} // previews waiting for the client's acknowledgement
	for {
		select {
		case <-done:
			return
		case <-c.s.ctx.Done():
			c.ws.SetWriteDeadline(time.Now().Add(time.Second))
			c.ws.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseGoingAway, "stationd stopping"))
			return
		case e := <-c.send:
			if c.write(e) != nil {
				return
			}
		case ev, ok := <-events:
			if !ok {
				return
			}
			if ev.Missed > 0 {
				// This client fell behind: give it the whole truth again.
				snap, _ := NewEnvelope("devices.snapshot", "", c.s.snapshot())
				if c.write(snap) != nil {
					return
				}
			}
			e, err := NewEnvelope(string(ev.Type), "", ev)
			if err != nil || c.write(e) != nil {
				return
			}
		case bm, ok := <-msgs:
			if !ok {
				msgs = nil
				continue
			}
			if bm.missed > 0 {
				e, _ := NewEnvelope("events.missed", "", map[string]uint64{"missed": bm.missed})
				if c.write(e) != nil {
					return
				}
			}
			if bm.m.Preview && bm.m.Binary != nil && !c.mayShow() {
				held[bm.m.Type] = bm.m // the newest waits for an acknowledgement
				continue
			}
			if c.writeBus(bm.m) != nil {
				return
			}
		case <-c.acked:
			for t, m := range held {
				if !c.mayShow() {
					break
				}
				delete(held, t)
				if c.writeBus(m) != nil {
					return
				}
			}
		case <-ticker.C:
			c.ws.SetWriteDeadline(time.Now().Add(writeWait))
			if err := c.ws.WriteMessage(websocket.PingMessage, nil); err != nil {
				return
			}
		}
	}
}

// writeBus sends a bus message: its JSON envelope, then its binary part.
func (c *conn) writeBus(m bus.Message) error {
	e, err := NewEnvelope(m.Type, "", m.Payload)
	if err != nil {
		c.log.Warn("bus message not sent: cannot encode", "type", m.Type, "err", err)
		return nil
	}
	e.Time = m.Time
	if err := c.write(e); err != nil {
		return err
	}
	if m.Binary == nil {
		return nil
	}
	// Count the frame in flight before sending it: the client may
	// acknowledge it before WriteMessage returns here.
	if m.Preview && c.window.Load() > 0 {
		c.unacked.Add(1)
	}
	c.ws.SetWriteDeadline(time.Now().Add(writeWait))
	return c.ws.WriteMessage(websocket.BinaryMessage, m.Binary)
}

// maxAcksPerSecond bounds preview.ack messages: one per frame shown, for
// a couple of preview streams at video rates.
const maxAcksPerSecond = 120

// maxPreviewWindow bounds the frames a client may ask to have in flight.
const maxPreviewWindow = 8

// mayShow reports whether another preview frame may be sent now.
func (c *conn) mayShow() bool {
	w := c.window.Load()
	return w == 0 || c.unacked.Load() < w
}

// previewFlow handles the flow-control messages of previews. Frames a
// browser has not shown yet pile up in socket buffers and in its event
// queue, where thinning cannot reach them: a slow browser would show
// seconds-old video. A client that sets a window gets at most that many
// frames ahead of its acknowledgements; the newest frame of each kind
// waits for the next acknowledgement, older ones are dropped.
func (c *conn) previewFlow(req Envelope) bool {
	switch req.Type {
	case "preview.window":
		var in struct {
			Frames int `json:"frames"`
		}
		if err := json.Unmarshal(req.Payload, &in); err != nil || in.Frames < 0 || in.Frames > maxPreviewWindow {
			c.reply(errorEnvelope(req.ID, "bad_request", fmt.Sprintf("preview.window: frames must be 0-%d (0: no flow control)", maxPreviewWindow)))
			return true
		}
		c.window.Store(int32(in.Frames))
		c.unacked.Store(0)
		e, _ := NewEnvelope("preview.window.result", req.ID, in)
		c.reply(e)
	case "preview.ack":
		for {
			n := c.unacked.Load()
			if n <= 0 || c.unacked.CompareAndSwap(n, n-1) {
				break
			}
		}
	default:
		return false
	}
	select {
	case c.acked <- struct{}{}:
	default:
	}
	return true
}

type busMsg struct {
	m      bus.Message
	missed uint64
}

func (c *conn) write(e Envelope) error {
	c.ws.SetWriteDeadline(time.Now().Add(writeWait))
	if err := c.ws.WriteJSON(e); err != nil {
		if !errors.Is(err, websocket.ErrCloseSent) {
			c.log.Debug("websocket write failed", "err", err)
		}
		return err
	}
	return nil
}

// commandNames lists the commands this server answers, for the UI to hide
// what is not available (no card reader flow, no calibration).
func (s *Server) commandNames() []string {
	out := []string{"ping", "devices.list"}
	for k := range s.opts.Commands {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
