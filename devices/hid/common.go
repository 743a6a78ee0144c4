package hid

import (
	"context"
	"fmt"
	"strings"
	"sync"

	"github.com/openenroll/stationd/devices"
)

// Duration is a duration option written as "250ms" (devices.Duration).
type Duration = devices.Duration

// Vendor and product IDs of the simulated devices (docs/hid-slap.md §1):
// 0x1209 is the pid.codes open-source vendor ID; the product IDs are this
// project's placeholders until real models are added.
const (
	SimVendorID     = 0x1209
	SimProductSlap  = 0x5A01
	SimProductPedal = 0x5A02
	SimProductLight = 0x5A03
)

// LinkOptions say where to find a device; every HID driver has them.
type LinkOptions struct {
	// Transport is "usb" (real devices through hidapi) or "virtual" (the
	// unix sockets of firmware-sim/hidsim, in SocketDir or the device's
	// configured port).
	Transport string `toml:"transport"`
	SocketDir string `toml:"socket_dir"`
	VendorID  uint16 `toml:"vendor_id"`
	ProductID uint16 `toml:"product_id"`
	// Serial picks one of several identical devices; empty takes the first.
	Serial string `toml:"serial"`
	// CommandTimeout bounds the wait for the device's answer to a command.
	CommandTimeout Duration `toml:"command_timeout"`
}

func (o LinkOptions) transport(cfg devices.Config) (Transport, error) {
	switch strings.ToLower(o.Transport) {
	case "", "usb":
		return USBTransport{}, nil
	case "virtual":
		dir := o.SocketDir
		if cfg.Port != "" {
			dir = cfg.Port
		}
		return VirtualTransport{Dir: dir}, nil
	}
	return nil, fmt.Errorf("device %q: transport %q: use \"usb\" or \"virtual\"", cfg.ID, o.Transport)
}

// link is an open device with one reader goroutine that hands every input
// report to handle, and reports the device absent when its transport says
// it is gone.
type link struct {
	id   string
	conn Conn
	info DeviceInfo
	rep  devices.Reporter

	ctx    context.Context // ends when the device is closed or gone
	cancel context.CancelFunc
	done   chan struct{}
	once   sync.Once
	gone   chan struct{}
}

func openLink(ctx context.Context, t Transport, f Filter, cfg devices.Config, what string, rep devices.Reporter) (*link, error) {
	d, err := findOne(t, f, fmt.Sprintf("%s %q", what, cfg.ID))
	if err != nil {
		return nil, err
	}
	c, err := t.Open(ctx, d)
	if err != nil {
		return nil, fmt.Errorf("%s %q: %w", what, cfg.ID, err)
	}
	if rep == nil {
		rep = nopReporter{}
	}
	lctx, cancel := context.WithCancel(context.Background())
	return &link{id: cfg.ID, conn: c, info: d, rep: rep, ctx: lctx, cancel: cancel, done: make(chan struct{}), gone: make(chan struct{})}, nil
}

// run reads reports until the link closes; handle must not block for long.
func (l *link) run(size int, handle func([]byte)) {
	defer close(l.done)
	buf := make([]byte, size)
	for {
		n, err := l.conn.ReadReport(l.ctx, buf)
		if err != nil {
			if l.ctx.Err() == nil {
				close(l.gone)
				l.rep.SetState(devices.StateAbsent, "unplugged: "+err.Error())
			} else {
				close(l.gone)
			}
			return
		}
		if n != size {
			continue // a short report is not one of ours
		}
		handle(buf)
	}
}

func (l *link) close() error {
	var err error
	l.once.Do(func() {
		l.cancel()
		err = l.conn.Close()
		<-l.done
	})
	return err
}

func (l *link) deviceInfo(kind devices.Kind, driver string) devices.Info {
	return devices.Info{
		ID: l.id, Kind: kind, Driver: driver,
		Vendor: l.info.Manufacturer, Model: l.info.Product, Serial: l.info.Serial,
		Port: l.info.Path,
	}
}

// tagWaiter matches answers to requests by their one-byte tag.
type tagWaiter[T any] struct {
	mu   sync.Mutex
	next uint8
	wait map[uint8]chan T
}

func (w *tagWaiter[T]) add() (uint8, chan T) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.wait == nil {
		w.wait = map[uint8]chan T{}
	}
	for {
		w.next++
		if w.next == 0 { // tag 0 is for unsolicited reports
			continue
		}
		if _, busy := w.wait[w.next]; !busy {
			break
		}
	}
	ch := make(chan T, 1)
	w.wait[w.next] = ch
	return w.next, ch
}

func (w *tagWaiter[T]) remove(tag uint8) {
	w.mu.Lock()
	delete(w.wait, tag)
	w.mu.Unlock()
}

func (w *tagWaiter[T]) deliver(tag uint8, v T) bool {
	w.mu.Lock()
	ch, ok := w.wait[tag]
	delete(w.wait, tag)
	w.mu.Unlock()
	if ok {
		ch <- v
	}
	return ok
}

type nopReporter struct{}

func (nopReporter) SetState(devices.State, string) {}
