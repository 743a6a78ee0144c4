package pcscdtest

import (
	"os/exec"
	"syscall"
	"testing"
	"time"
)

func TestStartStopByPid(t *testing.T) {
	if _, err := exec.LookPath("pcscd"); err != nil {
		t.Skip("pcscd not installed")
	}
	d, err := Start()
	if err != nil {
		t.Fatal(err)
	}
	pid := d.Pid()
	if !socketAlive() || !vpcdListening() {
		d.Stop()
		t.Fatal("pcscd socket or vpcd port not up after Start")
	}
	// A second user waits for the lock until the first one stops.
	got := make(chan *Daemon)
	go func() {
		d2, err := Start()
		if err != nil {
			t.Error(err)
		}
		got <- d2
	}()
	select {
	case <-got:
		t.Fatal("second Start did not wait for the lock")
	case <-time.After(200 * time.Millisecond):
	}
	d.Stop()
	if pid != 0 {
		if err := syscall.Kill(pid, 0); err == nil {
			t.Fatalf("pcscd pid %d still running after Stop", pid)
		}
	}
	d2 := <-got
	if d2 != nil {
		d2.Stop()
	}
}
