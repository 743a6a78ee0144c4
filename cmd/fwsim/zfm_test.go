package main

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/openenroll/stationd/devices/fingerprint"
	"github.com/openenroll/stationd/devices/fingerprint/zfm"
)

func TestFwsimZFM(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		done <- runZFM(ctx, []string{"-dir", dir, "-stdin=false", "-baud", "115200", "-width", "32", "-height", "40",
			"-genimg-time", "0", "-finger", "builtin:3", "-script", "fault garbage"}, pw, io.Discard)
		pw.Close()
	}()
	sc := bufio.NewScanner(pr)
	info := map[string]string{}
	for len(info) < 2 && sc.Scan() {
		k, v, _ := strings.Cut(sc.Text(), ": ")
		info[k] = v
	}
	go io.Copy(io.Discard, pr)
	if info["port"] != filepath.Join(dir, "zfm0") || info["control"] != filepath.Join(dir, "control.sock") {
		t.Fatalf("fwsim printed %v", info)
	}
	o := zfm.DefaultOptions()
	o.Baud, o.ImageWidth, o.ImageHeight = 115200, 32, 40
	o.PollInterval = zfm.Duration{Duration: 10 * time.Millisecond}
	tctx, tcancel := context.WithTimeout(ctx, 10*time.Second)
	defer tcancel()
	s, err := zfm.OpenPort(tctx, "fwsim", info["port"], o, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.Capture(tctx, fingerprint.CaptureOptions{}); err != nil {
		t.Fatal(err)
	}
	c, err := net.Dial("unix", info["control"])
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(c, "lift\n")
	line, err := bufio.NewReader(c).ReadString('\n')
	c.Close()
	if err != nil || line != "ok finger lifted\n" {
		t.Fatalf("control answered %q, %v", line, err)
	}
	if _, err := s.Capture(tctx, fingerprint.CaptureOptions{Timeout: 30 * time.Millisecond}); !errors.Is(err, fingerprint.ErrNoFinger) {
		t.Fatalf("after lift: %v", err)
	}
	s.Close()
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("fwsim zfm did not stop")
	}
}

func TestFwsimZFMBadFlags(t *testing.T) {
	for _, args := range [][]string{{"-baud", "1000"}, {"-finger", "synth:1:99"}, {"extra"}} {
		if err := runZFM(context.Background(), append([]string{"-stdin=false", "-dir", t.TempDir()}, args...), io.Discard, io.Discard); err == nil {
			t.Errorf("%v accepted", args)
		}
	}
}
