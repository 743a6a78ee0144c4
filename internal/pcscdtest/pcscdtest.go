// Package pcscdtest starts the PC/SC daemon (pcscd) for tests that talk to a
// simulated chip card through the real PC/SC stack (vpcd reader driver).
//
// Only one pcscd may run per machine and vpcd listens on one fixed port, so
// Start takes an exclusive flock on LockPath for as long as the test (or test
// binary) uses it: other test packages that run at the same time wait for
// their turn instead of clashing. A pcscd that was already running (started
// by the system, not by us) is used as it is and never stopped.
package pcscdtest

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// LockPath is the lock file every user of the shared pcscd holds while it
// uses the daemon and the vpcd port.
const LockPath = "/tmp/stationd-pcscd.lock"

// SocketPath is where pcscd accepts client connections (pcsc-lite default).
const SocketPath = "/run/pcscd/pcscd.comm"

// VPCDAddr is where the vpcd reader driver, loaded by pcscd from
// /etc/reader.conf.d/vpcd (CHANNELID 0x8C7B = 35963), waits for a card.
const VPCDAddr = "127.0.0.1:35963"

// startTimeout bounds how long pcscd may take to open its socket and load
// the vpcd driver; it is generous because the machine may be loaded.
const startTimeout = 20 * time.Second

// Daemon is a pcscd in use by this process.
type Daemon struct {
	cmd  *exec.Cmd // nil when we use a pcscd someone else started
	lock *os.File
	done chan struct{}
}

// Pid returns the process id of the pcscd we started, or 0 when an already
// running daemon is used.
func (d *Daemon) Pid() int {
	if d.cmd == nil {
		return 0
	}
	return d.cmd.Process.Pid
}

// Start locks the shared pcscd, starts it unless one is already running,
// and waits until clients can connect. The returned Stop must be called.
func Start() (*Daemon, error) {
	if _, err := exec.LookPath("pcscd"); err != nil {
		return nil, fmt.Errorf("pcscdtest: pcscd not installed (apt-get install pcscd vsmartcard-vpcd): %w", err)
	}
	lf, err := os.OpenFile(LockPath, os.O_CREATE|os.O_RDWR, 0o666)
	if err != nil {
		return nil, fmt.Errorf("pcscdtest: open lock %s: %w", LockPath, err)
	}
	// Blocks while another test process uses pcscd.
	if err := syscall.Flock(int(lf.Fd()), syscall.LOCK_EX); err != nil {
		lf.Close()
		return nil, fmt.Errorf("pcscdtest: lock %s: %w", LockPath, err)
	}
	d := &Daemon{lock: lf}
	if socketAlive() && vpcdListening() {
		return d, nil // someone else's pcscd: use it, do not stop it
	}
	if socketAlive() {
		d.unlock()
		return nil, errors.New("pcscdtest: a pcscd not started by us is running without the vpcd reader; stop it or add /etc/reader.conf.d/vpcd")
	}
	// A stale socket from a killed daemon makes pcscd refuse to start.
	os.Remove(SocketPath)
	os.Remove(filepath.Join(filepath.Dir(SocketPath), "pcscd.pid"))
	cmd := exec.Command("pcscd", "--foreground", "--error")
	if logPath := os.Getenv("PCSCD_DEBUG_LOG"); logPath != "" {
		// For chasing a reader problem: pcscd's debug log, appended.
		if lf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644); err == nil {
			defer lf.Close()
			cmd = exec.Command("pcscd", "--foreground", "--debug")
			cmd.Stdout, cmd.Stderr = lf, lf
		}
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		d.unlock()
		return nil, fmt.Errorf("pcscdtest: start pcscd: %w", err)
	}
	d.cmd, d.done = cmd, make(chan struct{})
	go func() { cmd.Wait(); close(d.done) }()
	deadline := time.Now().Add(startTimeout)
	for !(socketAlive() && vpcdListening()) {
		select {
		case <-d.done:
			d.unlock()
			return nil, fmt.Errorf("pcscdtest: pcscd exited at start: %v", cmd.ProcessState)
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			d.Stop()
			return nil, fmt.Errorf("pcscdtest: pcscd did not open %s and vpcd %s within %v", SocketPath, VPCDAddr, startTimeout)
		}
	}
	return d, nil
}

// Stop stops the pcscd we started (by its pid) and releases the lock.
func (d *Daemon) Stop() {
	if d.cmd != nil {
		d.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-d.done:
		case <-time.After(5 * time.Second):
			d.cmd.Process.Kill()
			<-d.done
		}
		d.cmd = nil
	}
	d.unlock()
}

func (d *Daemon) unlock() {
	if d.lock != nil {
		syscall.Flock(int(d.lock.Fd()), syscall.LOCK_UN)
		d.lock.Close()
		d.lock = nil
	}
}

// ForTest starts pcscd for one test and stops it when the test ends. It
// skips the test when pcscd is not installed.
func ForTest(tb testing.TB) *Daemon {
	tb.Helper()
	if _, err := exec.LookPath("pcscd"); err != nil {
		tb.Skip("pcscd not installed; apt-get install pcscd vsmartcard-vpcd")
	}
	d, err := Start()
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(d.Stop)
	return d
}

func socketAlive() bool {
	c, err := net.DialTimeout("unix", SocketPath, time.Second)
	if err != nil {
		return false
	}
	c.Close()
	return true
}

// vpcdListening reports whether the vpcd driver listens on its port. It
// looks in /proc/net/tcp{,6} rather than connecting, because vpcd would take
// a probing connection for a card.
func vpcdListening() bool {
	// /proc/net/tcp: "sl local_address rem_address st ..."; port in hex,
	// state 0A is LISTEN.
	want := fmt.Sprintf(":%04X", 0x8C7B)
	for _, f := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(b), "\n") {
			fs := strings.Fields(line)
			if len(fs) > 3 && strings.HasSuffix(fs[1], want) && fs[3] == "0A" {
				return true
			}
		}
	}
	return false
}
