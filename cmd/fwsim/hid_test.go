package main

import (
	"bufio"
	"context"
	"io"
	"os"
	"strings"
	"testing"

	"github.com/openenroll/stationd/devices/hid"
)

// TestFwsimHID runs `fwsim hid`, reads the socket paths it prints and
// enumerates the three devices through the driver's virtual transport.
func TestFwsimHID(t *testing.T) {
	// unix socket paths must stay under 108 bytes: t.TempDir can be longer
	dir, err := os.MkdirTemp("", "fwsimhid")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	ctx, cancel := context.WithCancel(t.Context())
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		done <- runHID(ctx, []string{"-dir", dir, "-stdin=false", "-synth=false"}, pw, io.Discard)
		pw.Close()
	}()
	got := map[string]string{}
	sc := bufio.NewScanner(pr)
	for sc.Scan() {
		k, v, _ := strings.Cut(sc.Text(), ": ")
		got[k] = v
		if k == "socket_dir" {
			break
		}
	}
	if got["slap"] == "" || got["pedal"] == "" || got["light"] == "" || got["socket_dir"] != dir {
		t.Fatalf("printed %v", got)
	}
	list, err := hid.VirtualTransport{Dir: dir}.Enumerate(hid.Filter{VendorID: hid.SimVendorID})
	if err != nil || len(list) != 3 {
		t.Fatalf("enumerated %v, %v", list, err)
	}
	cancel()
	go io.Copy(io.Discard, pr)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if err := runHID(context.Background(), []string{"-rotation", "90"}, io.Discard, io.Discard); err == nil {
		t.Fatal("rotation 90 accepted")
	}
}
