// Package hidsim simulates the booth's USB HID devices (a 4-4-2 slap
// fingerprint scanner, a foot pedal and a status light) behind the virtual
// HID transport of docs/hid-slap.md: each plugged device listens on its own
// unix socket in a directory, sends a 128-byte descriptor to whoever
// connects, then exchanges fixed-size reports (report ID first) exactly as a
// real device does over USB. Unplug closes the socket and removes it.
//
// The protocol is implemented here from the document, independently of the
// drivers in devices/hid (this package must not import them), so that the
// tests of the drivers against this simulator catch protocol bugs.
//
// The slap scanner renders slaps from firmware-sim/synthfinger: four
// distinct fingertips of one identity (or two thumbs) composed on a
// 1600x1500, 500 ppi platen with realistic spacing, finger-length stagger,
// hand rotation, missing fingers, the wrong hand and smudges, with the
// ground-truth boxes recorded (render.go).
package hidsim

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"sync"
)

// Vendor and product IDs of the simulated devices. 0x1209 is the pid.codes
// open-source vendor ID; the product IDs are this project's placeholders
// (docs/hid-slap.md §1).
const (
	VendorID        = 0x1209
	ProductSlap     = 0x5A01
	ProductPedal    = 0x5A02
	ProductLight    = 0x5A03
	UsagePageVendor = 0xFF00
)

// Descriptor is what a device tells the host on connect.
type Descriptor struct {
	ReportSize                    int
	VendorID, ProductID, Release  uint16
	UsagePage, Usage              uint16
	Serial, Manufacturer, Product string
}

const descSize = 128

// encode writes the 128-byte descriptor record (docs/hid-slap.md §5).
func (d Descriptor) encode() ([]byte, error) {
	b := make([]byte, descSize)
	copy(b, "VHID")
	b[4] = 1
	be := binary.BigEndian
	be.PutUint16(b[5:], uint16(d.ReportSize))
	be.PutUint16(b[7:], d.VendorID)
	be.PutUint16(b[9:], d.ProductID)
	be.PutUint16(b[11:], d.Release)
	be.PutUint16(b[13:], d.UsagePage)
	be.PutUint16(b[15:], d.Usage)
	off := 17
	for _, s := range []string{d.Serial, d.Manufacturer, d.Product} {
		if len(s) > 255 || off+1+len(s) > descSize {
			return nil, fmt.Errorf("hidsim: descriptor strings too long (128-byte record)")
		}
		b[off] = byte(len(s))
		copy(b[off+1:], s)
		off += 1 + len(s)
	}
	return b, nil
}

// Device is one simulated HID device.
type Device interface {
	Descriptor() Descriptor
	// Serve talks to one connected host until the host hangs up or ctx
	// ends (unplug).
	Serve(ctx context.Context, c *Conn)
}

// Conn is the device side of one host connection: whole reports in, whole
// reports out.
type Conn struct {
	nc   net.Conn
	size int
	wmu  sync.Mutex
	bw   *bufio.Writer
}

// Read reads one output report from the host.
func (c *Conn) Read() ([]byte, error) {
	b := make([]byte, c.size)
	if _, err := io.ReadFull(c.nc, b); err != nil {
		return nil, err
	}
	return b, nil
}

// Write queues one input report; flush sends the queue. Reports shorter
// than the report size are padded with zeros.
func (c *Conn) Write(r []byte, flush bool) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if len(r) > c.size {
		return fmt.Errorf("hidsim: report of %d bytes, size %d", len(r), c.size)
	}
	if _, err := c.bw.Write(r); err != nil {
		return err
	}
	for i := len(r); i < c.size; i++ {
		c.bw.WriteByte(0)
	}
	if flush {
		return c.bw.Flush()
	}
	return nil
}

func newWriter(w io.Writer) *bufio.Writer { return bufio.NewWriterSize(w, 4096) }

// Flush sends the queued reports.
func (c *Conn) Flush() error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	return c.bw.Flush()
}

// Hub plugs simulated devices into a socket directory.
type Hub struct {
	dir string
	mu  sync.Mutex
	dev map[string]*plug
}

type plug struct {
	ln     net.Listener
	cancel context.CancelFunc
	wg     sync.WaitGroup
	mu     sync.Mutex
	conns  map[net.Conn]struct{}
}

// NewHub uses dir (created if needed) for the device sockets.
func NewHub(dir string) (*Hub, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("hidsim: %w", err)
	}
	return &Hub{dir: dir, dev: map[string]*plug{}}, nil
}

// Dir is the socket directory (the virtual transport's socket_dir).
func (h *Hub) Dir() string { return h.dir }

// SocketPath is where the device plugged under name listens.
func (h *Hub) SocketPath(name string) string { return filepath.Join(h.dir, name+".sock") }

// Plug connects a device under name: its socket appears and hosts may open it.
func (h *Hub) Plug(name string, d Device) error {
	desc, err := d.Descriptor().encode()
	if err != nil {
		return err
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, dup := h.dev[name]; dup {
		return fmt.Errorf("hidsim: %q is already plugged in", name)
	}
	path := h.SocketPath(name)
	os.Remove(path)
	ln, err := net.Listen("unix", path)
	if err != nil {
		return fmt.Errorf("hidsim: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	p := &plug{ln: ln, cancel: cancel, conns: map[net.Conn]struct{}{}}
	h.dev[name] = p
	size := d.Descriptor().ReportSize
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			p.mu.Lock()
			if ctx.Err() != nil {
				p.mu.Unlock()
				nc.Close()
				return
			}
			p.conns[nc] = struct{}{}
			p.mu.Unlock()
			p.wg.Add(1)
			go func() {
				defer p.wg.Done()
				defer func() {
					p.mu.Lock()
					delete(p.conns, nc)
					p.mu.Unlock()
					nc.Close()
				}()
				if _, err := nc.Write(desc); err != nil {
					return
				}
				c := &Conn{nc: nc, size: size, bw: newWriter(nc)}
				// a hang-up or unplug ends Serve: closing nc fails its reads
				stop := context.AfterFunc(ctx, func() { nc.Close() })
				defer stop()
				d.Serve(ctx, c)
			}()
		}
	}()
	return nil
}

// Unplug disconnects the device: open connections see EOF, the socket goes.
func (h *Hub) Unplug(name string) error {
	h.mu.Lock()
	p, ok := h.dev[name]
	delete(h.dev, name)
	h.mu.Unlock()
	if !ok {
		return fmt.Errorf("hidsim: %q is not plugged in", name)
	}
	p.cancel()
	p.ln.Close()
	p.mu.Lock()
	for nc := range p.conns {
		nc.Close()
	}
	p.mu.Unlock()
	p.wg.Wait()
	os.Remove(h.SocketPath(name))
	return nil
}

// Close unplugs every device.
func (h *Hub) Close() error {
	h.mu.Lock()
	names := make([]string, 0, len(h.dev))
	for n := range h.dev {
		names = append(names, n)
	}
	h.mu.Unlock()
	var errs []error
	for _, n := range names {
		errs = append(errs, h.Unplug(n))
	}
	return errors.Join(errs...)
}
