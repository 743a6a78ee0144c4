package devices

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/openenroll/stationd/devices/fanout"
)

// EventType names what happened to a device.
type EventType string

// Registry event types. They are also the "type" of the operator websocket's
// device messages, so they are part of the protocol: do not rename.
const (
	EventAdded   EventType = "device.added"   // the device was opened (first time or after returning)
	EventRemoved EventType = "device.removed" // the device went away or the registry closed it; a configured device is closed before this is sent
	EventState   EventType = "device.state"   // the state or its detail changed while present
)

// Event is one change of one device.
type Event struct {
	Seq    uint64    `json:"seq"` // increases by one per event of this registry
	Type   EventType `json:"type"`
	Time   time.Time `json:"time"`
	Device Info      `json:"device"`
	State  State     `json:"state"`
	Detail string    `json:"detail,omitempty"`
	// Missed counts events this subscriber lost to its queue being full
	// just before this one; a consumer that sees it non-zero should read
	// the registry's Snapshot again.
	Missed uint64 `json:"missed,omitempty"`
}

// Status is a device's identity and current state.
type Status struct {
	Info   Info      `json:"info"`
	State  State     `json:"state"`
	Detail string    `json:"detail,omitempty"`
	Since  time.Time `json:"since"`
}

// Options tune a Registry.
type Options struct {
	// OpenTimeout bounds one attempt of a driver's Open.
	OpenTimeout time.Duration
	// RetryMin and RetryMax bound the wait between attempts to open an
	// absent device; the wait doubles from RetryMin up to RetryMax, with
	// jitter so that several devices do not retry in lock-step.
	RetryMin, RetryMax time.Duration
	// QueueLen is the default length of a subscriber's queue.
	QueueLen int
	Logger   *slog.Logger
}

// DefaultOptions are suitable for a booth: a replugged scanner is seen
// again within about a second.
var DefaultOptions = Options{
	OpenTimeout: 5 * time.Second,
	RetryMin:    200 * time.Millisecond,
	RetryMax:    time.Second,
	QueueLen:    256,
}

// Registry owns the station's devices.
type Registry struct {
	opts   Options
	log    *slog.Logger
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu      sync.Mutex
	closed  bool
	seq     uint64
	order   []string
	entries map[string]*entry
	subs    map[*Subscription]struct{}
}

type entry struct {
	info   Info
	dev    Device // nil while absent
	state  State
	detail string
	since  time.Time
	gen    uint64        // which opening the current reporter belongs to
	lost   chan struct{} // closed by the reporter when the device reports absent
	cfg    *Config       // nil for attached (discovered) devices
	// early is what the driver reported from inside Open, announced with
	// the device once Open returns (a state event before that would name a
	// device Get cannot find yet).
	early struct {
		set    bool
		state  State
		detail string
	}
}

// NewRegistry returns an empty registry. Call Close to stop it.
func NewRegistry(opts Options) *Registry {
	def := DefaultOptions
	if opts.OpenTimeout <= 0 {
		opts.OpenTimeout = def.OpenTimeout
	}
	if opts.RetryMin <= 0 {
		opts.RetryMin = def.RetryMin
	}
	if opts.RetryMax < opts.RetryMin {
		opts.RetryMax = max(def.RetryMax, opts.RetryMin)
	}
	if opts.QueueLen <= 0 {
		opts.QueueLen = def.QueueLen
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Registry{
		opts: opts, log: log, ctx: ctx, cancel: cancel,
		entries: map[string]*entry{}, subs: map[*Subscription]struct{}{},
	}
}

// ErrClosed is returned by calls on a closed registry or subscription.
var ErrClosed = errors.New("devices: registry closed")

// Open adds a configured device and starts opening it in the background;
// until its driver succeeds it is listed as absent. It fails only for an
// unknown driver or a duplicate ID.
func (r *Registry) Open(cfg Config) error {
	drv, ok := Lookup(cfg.Driver)
	if !ok {
		return fmt.Errorf("device %q: unknown driver %q (known: %v)", cfg.ID, cfg.Driver, Drivers())
	}
	if cfg.ID == "" {
		return fmt.Errorf("device with driver %q: empty id", cfg.Driver)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return ErrClosed
	}
	if _, dup := r.entries[cfg.ID]; dup {
		return fmt.Errorf("device %q: configured twice", cfg.ID)
	}
	c := cfg
	e := &entry{
		info:  Info{ID: cfg.ID, Kind: drv.Kind, Driver: drv.Name, Port: cfg.Port},
		state: StateAbsent, since: time.Now(), cfg: &c,
	}
	r.entries[cfg.ID] = e
	r.order = append(r.order, cfg.ID)
	r.wg.Add(1)
	go r.supervise(e, drv)
	return nil
}

// supervise opens a configured device, waits until it is lost, closes it,
// and opens it again when it returns, until the registry closes.
func (r *Registry) supervise(e *entry, drv Driver) {
	defer r.wg.Done()
	wait := r.opts.RetryMin
	var lastErr string
	for {
		rep := r.newReporter(e)
		ctx, cancel := context.WithTimeout(r.ctx, r.opts.OpenTimeout)
		dev, err := drv.Open(ctx, *e.cfg, rep)
		cancel()
		if err != nil {
			if r.ctx.Err() != nil {
				return
			}
			if msg := err.Error(); msg != lastErr {
				// Log and publish each new reason once, not every retry.
				lastErr = msg
				r.log.Info("device not available", "device", e.info.ID, "driver", drv.Name, "err", err)
				r.setState(e, rep.gen, StateAbsent, msg, EventState)
			}
			if !sleepCtx(r.ctx, jitter(wait)) {
				return
			}
			wait = min(wait*2, r.opts.RetryMax)
			continue
		}
		wait, lastErr = r.opts.RetryMin, ""
		if !r.attachOpened(e, rep, dev) {
			dev.Close()
			return
		}
		select {
		case <-r.ctx.Done():
			return // Close closes the device
		case <-rep.lost:
		}
		r.detachLost(e, rep.gen)
		if !sleepCtx(r.ctx, jitter(r.opts.RetryMin)) {
			return
		}
	}
}

func jitter(d time.Duration) time.Duration {
	return d/2 + rand.N(d/2+1)
}

func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// attachOpened records a freshly opened device and announces it.
func (r *Registry) attachOpened(e *entry, rep *reporter, dev Device) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return false
	}
	e.dev = dev
	e.info = r.mergeInfo(e, dev.Info())
	switch {
	case e.early.set:
		e.state, e.detail = e.early.state, e.early.detail
	case e.state == StateAbsent:
		// The driver did not report a state while opening: it is ready.
		e.state, e.detail = StateReady, ""
	}
	e.since = time.Now()
	r.publishLocked(EventAdded, e)
	return true
}

func (r *Registry) mergeInfo(e *entry, in Info) Info {
	in.ID, in.Driver = e.info.ID, e.info.Driver
	if in.Kind == "" {
		in.Kind = e.info.Kind
	}
	if in.Port == "" {
		in.Port = e.info.Port
	}
	return in
}

// detachLost closes a device that reported itself absent.
func (r *Registry) detachLost(e *entry, gen uint64) {
	r.mu.Lock()
	dev := e.dev
	if e.gen != gen || dev == nil {
		r.mu.Unlock()
		return
	}
	e.dev = nil
	e.state, e.since = StateAbsent, time.Now()
	e.gen++ // later reports from the old device are ignored
	r.mu.Unlock()
	// Close before announcing: whoever acts on "removed" (a test, the UI, a
	// technician re-plugging) finds the port already released.
	if err := dev.Close(); err != nil {
		r.log.Warn("closing lost device", "device", e.info.ID, "err", err)
	}
	r.mu.Lock()
	if !r.closed {
		r.publishLocked(EventRemoved, e)
	}
	r.mu.Unlock()
}

// Attach adds a device found by discovery (a PC/SC reader, a HID device)
// rather than by configuration. The returned Reporter is the device's to
// report its state with; reporting StateAbsent removes it from the registry.
func (r *Registry) Attach(dev Device) (Reporter, error) {
	info := dev.Info()
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return nil, ErrClosed
	}
	if info.ID == "" {
		return nil, errors.New("devices: Attach of a device without an ID")
	}
	if old, ok := r.entries[info.ID]; ok && (old.cfg != nil || old.dev != nil) {
		return nil, fmt.Errorf("device %q: already registered", info.ID)
	}
	e := &entry{info: info, dev: dev, state: StateReady, since: time.Now()}
	if _, ok := r.entries[info.ID]; !ok {
		r.order = append(r.order, info.ID)
	}
	r.entries[info.ID] = e
	rep := &reporter{r: r, e: e, gen: e.gen, lost: make(chan struct{})}
	r.publishLocked(EventAdded, e)
	return rep, nil
}

// Detach removes a discovered device and closes it.
func (r *Registry) Detach(id string) {
	r.mu.Lock()
	e, ok := r.entries[id]
	if !ok || e.cfg != nil {
		r.mu.Unlock()
		return
	}
	dev := e.dev
	r.removeAttachedLocked(e)
	r.mu.Unlock()
	if dev != nil {
		dev.Close()
	}
}

func (r *Registry) removeAttachedLocked(e *entry) {
	e.dev, e.state, e.since = nil, StateAbsent, time.Now()
	e.gen++
	r.publishLocked(EventRemoved, e)
	delete(r.entries, e.info.ID)
	for i, id := range r.order {
		if id == e.info.ID {
			r.order = append(r.order[:i], r.order[i+1:]...)
			break
		}
	}
}

type reporter struct {
	r        *Registry
	e        *entry
	gen      uint64
	lostOnce sync.Once
	lost     chan struct{}
}

func (r *Registry) newReporter(e *entry) *reporter {
	r.mu.Lock()
	defer r.mu.Unlock()
	e.gen++
	e.early.set = false
	return &reporter{r: r, e: e, gen: e.gen, lost: make(chan struct{})}
}

func (p *reporter) SetState(s State, detail string) {
	r := p.r
	if s == StateAbsent {
		p.lostOnce.Do(func() { close(p.lost) })
		if p.e.cfg == nil { // a discovered device that is gone is removed
			r.mu.Lock()
			var dev Device
			if cur, ok := r.entries[p.e.info.ID]; ok && cur == p.e && p.e.gen == p.gen {
				dev = p.e.dev
				r.removeAttachedLocked(p.e)
			}
			r.mu.Unlock()
			if dev != nil {
				go dev.Close() // never call back into a driver from its own report
			}
		}
		return
	}
	r.mu.Lock()
	opening := p.e.dev == nil && p.e.gen == p.gen
	if opening {
		// Reported from inside Open: kept, and announced with the device
		// (EventAdded), never before it. A "ready" event or snapshot must
		// mean that Get finds the device.
		p.e.early.set, p.e.early.state, p.e.early.detail = true, s, detail
	}
	r.mu.Unlock()
	if !opening {
		r.setState(p.e, p.gen, s, detail, EventState)
	}
}

func (r *Registry) setState(e *entry, gen uint64, s State, detail string, t EventType) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed || e.gen != gen {
		return
	}
	if e.state == s && e.detail == detail {
		return
	}
	if e.dev != nil && e.dev.Info() != (Info{}) {
		e.info = r.mergeInfo(e, e.dev.Info())
	}
	e.state, e.detail, e.since = s, detail, time.Now()
	r.publishLocked(t, e)
}

// publishLocked sends an event to every subscriber; r.mu is held. A
// subscriber's queue never blocks the publisher.
func (r *Registry) publishLocked(t EventType, e *entry) {
	r.seq++
	ev := Event{Seq: r.seq, Type: t, Time: time.Now().UTC(), Device: e.info, State: e.state, Detail: e.detail}
	for s := range r.subs {
		s.q.Push(ev)
	}
}

// Get returns the open device with the given ID, or false when it is not
// configured or currently absent.
func (r *Registry) Get(id string) (Device, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	e, ok := r.entries[id]
	if !ok || e.dev == nil {
		return nil, false
	}
	return e.dev, true
}

// Snapshot returns every device's status, in configuration order followed
// by discovered devices in the order they appeared.
func (r *Registry) Snapshot() []Status {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]Status, 0, len(r.order))
	for _, id := range r.order {
		e := r.entries[id]
		out = append(out, Status{Info: e.info, State: e.state, Detail: e.detail, Since: e.since})
	}
	return out
}

// Subscribe returns a subscription to every event published from now on.
// queueLen <= 0 takes the registry's default. A subscriber that does not
// keep up loses its oldest events (see Event.Missed), never delaying others.
func (r *Registry) Subscribe(queueLen int) *Subscription {
	if queueLen <= 0 {
		queueLen = r.opts.QueueLen
	}
	s := &Subscription{r: r, q: fanout.New[Event](queueLen)}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		s.q.Close()
		return s
	}
	r.subs[s] = struct{}{}
	return s
}

// Close stops watching, closes every open device and ends every
// subscription. It waits for the registry's goroutines to finish.
func (r *Registry) Close() error {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return nil
	}
	r.closed = true
	r.cancel()
	r.mu.Unlock()
	r.wg.Wait() // supervisors have returned: no one else touches entries

	// Announce the removals under the lock, but close the devices after
	// releasing it: a driver's Close may wait for its own goroutines, which
	// may be reporting a state change (and so waiting for the lock).
	r.mu.Lock()
	type open struct {
		id  string
		dev Device
	}
	var devs []open
	for _, id := range r.order {
		e := r.entries[id]
		if e.dev == nil {
			continue
		}
		devs = append(devs, open{id, e.dev})
		e.dev, e.state = nil, StateAbsent
		e.gen++
		r.publishLocked(EventRemoved, e)
	}
	subs := r.subs
	r.subs = map[*Subscription]struct{}{}
	r.mu.Unlock()
	for s := range subs {
		s.q.Close()
	}
	var errs []error
	for _, d := range devs {
		if err := d.dev.Close(); err != nil {
			errs = append(errs, fmt.Errorf("closing device %q: %w", d.id, err))
		}
	}
	return errors.Join(errs...)
}

// Subscription is one consumer's queue of registry events.
type Subscription struct {
	r *Registry
	q *fanout.Queue[Event]
}

// Next returns the oldest queued event, waiting for one if none is queued.
// Its Missed field counts events this subscriber lost just before it. Next
// returns ErrClosed after the subscription or the registry is closed and
// the queue is drained, or the context's error.
func (s *Subscription) Next(ctx context.Context) (Event, error) {
	ev, missed, err := s.q.Next(ctx)
	if errors.Is(err, fanout.ErrClosed) {
		return ev, ErrClosed
	}
	ev.Missed = missed
	return ev, err
}

// Dropped returns how many events this subscriber has lost in all.
func (s *Subscription) Dropped() uint64 { return s.q.Dropped() }

// Close ends the subscription; a blocked Next returns ErrClosed.
func (s *Subscription) Close() {
	s.r.mu.Lock()
	delete(s.r.subs, s)
	s.r.mu.Unlock()
	s.q.Close()
}
