package hid

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"time"
)

// Virtual transport wire format (docs/hid-slap.md, "Virtual transport"):
// each plugged device listens on its own unix socket <dir>/<name>.sock. On
// connect the device sends one 128-byte descriptor record; after that both
// directions carry whole reports of exactly ReportSize bytes, report ID
// first, with no other framing.
const (
	vhidMagic       = "VHID"
	vhidVersion     = 1
	vhidDescSize    = 128
	vhidMaxReport   = 4096
	vhidDialTimeout = time.Second // a socket file whose device does not answer this fast is stale
)

// VirtualTransport reaches the simulated devices of firmware-sim/hidsim
// through the unix sockets in Dir.
type VirtualTransport struct {
	Dir string
}

// ParseDescriptor decodes the virtual transport's 128-byte descriptor
// record. It never panics on bad input.
func ParseDescriptor(b []byte) (DeviceInfo, error) {
	if len(b) != vhidDescSize {
		return DeviceInfo{}, fmt.Errorf("virtual HID descriptor: %d bytes, want %d", len(b), vhidDescSize)
	}
	if string(b[:4]) != vhidMagic {
		return DeviceInfo{}, fmt.Errorf("virtual HID descriptor: bad magic %q at offset 0, want %q", b[:4], vhidMagic)
	}
	if b[4] != vhidVersion {
		return DeviceInfo{}, fmt.Errorf("virtual HID descriptor: version %d at offset 4, want %d", b[4], vhidVersion)
	}
	be := binary.BigEndian
	d := DeviceInfo{
		ReportSize: int(be.Uint16(b[5:])),
		VendorID:   be.Uint16(b[7:]),
		ProductID:  be.Uint16(b[9:]),
		Release:    be.Uint16(b[11:]),
		UsagePage:  be.Uint16(b[13:]),
		Usage:      be.Uint16(b[15:]),
	}
	if d.ReportSize < 2 || d.ReportSize > vhidMaxReport {
		return DeviceInfo{}, fmt.Errorf("virtual HID descriptor: report size %d at offset 5 out of range 2..%d", d.ReportSize, vhidMaxReport)
	}
	off := 17
	var strs [3]string
	for i := range strs {
		if off >= len(b) {
			return DeviceInfo{}, fmt.Errorf("virtual HID descriptor: string %d missing at offset %d", i, off)
		}
		n := int(b[off])
		off++
		if off+n > len(b) {
			return DeviceInfo{}, fmt.Errorf("virtual HID descriptor: string %d at offset %d runs %d bytes past the record", i, off-1, off+n-len(b))
		}
		strs[i] = string(b[off : off+n])
		off += n
	}
	d.Serial, d.Manufacturer, d.Product = strs[0], strs[1], strs[2]
	return d, nil
}

// Enumerate connects to each socket in Dir and reads its descriptor.
func (t VirtualTransport) Enumerate(f Filter) ([]DeviceInfo, error) {
	if t.Dir == "" {
		return nil, errors.New("virtual HID transport: no socket directory configured (option socket_dir)")
	}
	paths, err := filepath.Glob(filepath.Join(t.Dir, "*.sock"))
	if err != nil {
		return nil, fmt.Errorf("virtual HID transport: %w", err)
	}
	if _, err := os.Stat(t.Dir); err != nil {
		// A missing directory is no device plugged in (the simulator is
		// not running), not a failure.
		return nil, nil
	}
	sort.Strings(paths)
	var out []DeviceInfo
	for _, p := range paths {
		nc, d, err := dialVirtual(context.Background(), p)
		if err != nil {
			continue // stale socket file or a device going away
		}
		nc.Close()
		if f.Match(d) {
			out = append(out, d)
		}
	}
	return out, nil
}

func dialVirtual(ctx context.Context, path string) (net.Conn, DeviceInfo, error) {
	ctx, cancel := context.WithTimeout(ctx, vhidDialTimeout)
	defer cancel()
	var dl net.Dialer
	nc, err := dl.DialContext(ctx, "unix", path)
	if err != nil {
		return nil, DeviceInfo{}, err
	}
	dead, _ := ctx.Deadline()
	nc.SetReadDeadline(dead)
	var desc [vhidDescSize]byte
	if _, err := io.ReadFull(nc, desc[:]); err != nil {
		nc.Close()
		return nil, DeviceInfo{}, fmt.Errorf("reading descriptor from %s: %w", path, err)
	}
	nc.SetReadDeadline(time.Time{})
	d, err := ParseDescriptor(desc[:])
	if err != nil {
		nc.Close()
		return nil, DeviceInfo{}, fmt.Errorf("%s: %w", path, err)
	}
	d.Path = path
	return nc, d, nil
}

// Open connects to the device's socket.
func (t VirtualTransport) Open(ctx context.Context, d DeviceInfo) (Conn, error) {
	nc, got, err := dialVirtual(ctx, d.Path)
	if err != nil {
		return nil, fmt.Errorf("virtual HID device %s: %w: %w", d.Path, ErrGone, err)
	}
	if got.VendorID != d.VendorID || got.ProductID != d.ProductID || got.Serial != d.Serial {
		nc.Close()
		return nil, fmt.Errorf("virtual HID device %s: another device (%04x:%04x %q) now answers there", d.Path, got.VendorID, got.ProductID, got.Serial)
	}
	return &virtualConn{nc: nc, size: got.ReportSize, part: make([]byte, got.ReportSize)}, nil
}

type virtualConn struct {
	nc   net.Conn
	size int

	rmu  sync.Mutex // one reader at a time; part keeps a report cut by a cancelled read
	part []byte
	n    int

	wmu    sync.Mutex
	closed sync.Once
}

// interruptOn makes blocking I/O on nc return when ctx ends; the returned
// function undoes it and waits until the interruption, if it started, is done.
func interruptOn(ctx context.Context, set func(time.Time) error) func() {
	if dl, ok := ctx.Deadline(); ok {
		set(dl)
	} else {
		set(time.Time{})
	}
	done := make(chan struct{})
	stop := context.AfterFunc(ctx, func() {
		set(time.Unix(1, 0))
		close(done)
	})
	return func() {
		if !stop() {
			<-done
		}
	}
}

func (c *virtualConn) ReadReport(ctx context.Context, buf []byte) (int, error) {
	c.rmu.Lock()
	defer c.rmu.Unlock()
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	undo := interruptOn(ctx, c.nc.SetReadDeadline)
	defer undo()
	for c.n < c.size {
		k, err := c.nc.Read(c.part[c.n:])
		c.n += k
		if err != nil {
			if ctx.Err() != nil {
				return 0, ctx.Err()
			}
			if errors.Is(err, os.ErrDeadlineExceeded) {
				return 0, context.DeadlineExceeded
			}
			return 0, fmt.Errorf("%w (%v)", ErrGone, err)
		}
	}
	c.n = 0
	return copy(buf, c.part), nil
}

func (c *virtualConn) WriteReport(ctx context.Context, report []byte) error {
	if len(report) == 0 || len(report) > c.size {
		return fmt.Errorf("hid: report of %d bytes, device takes %d", len(report), c.size)
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if err := ctx.Err(); err != nil {
		return err
	}
	undo := interruptOn(ctx, c.nc.SetWriteDeadline)
	defer undo()
	buf := report
	if len(report) < c.size { // pad as the HID stack does for short reports
		buf = make([]byte, c.size)
		copy(buf, report)
	}
	if _, err := c.nc.Write(buf); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fmt.Errorf("%w (%v)", ErrGone, err)
	}
	return nil
}

func (c *virtualConn) Close() error {
	var err error
	c.closed.Do(func() { err = c.nc.Close() })
	return err
}
