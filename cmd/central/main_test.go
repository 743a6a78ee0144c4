package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ed25519"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/openenroll/stationd/station/outbox"
	"github.com/openenroll/stationd/station/uplink"
)

// TestServeListKeygen runs central as its main would: keygen, serve on
// 127.0.0.1:0, a station uploads through the uplink client, then list reads
// the store directly and over HTTP.
func TestServeListKeygen(t *testing.T) {
	defer goleak.VerifyNone(t)
	dir := t.TempDir()
	stations := filepath.Join(dir, "stations")
	os.Mkdir(stations, 0o700)
	var out bytes.Buffer
	if code := run(context.Background(), []string{"keygen", "-out", filepath.Join(dir, "central")}, &out, io.Discard); code != 0 {
		t.Fatalf("keygen exit %d", code)
	}
	if code := run(context.Background(), []string{"keygen", "-out", filepath.Join(stations, "booth-01")}, &out, io.Discard); code != 0 {
		t.Fatalf("station keygen exit %d", code)
	}
	// keygen refuses to overwrite a key.
	if code := run(context.Background(), []string{"keygen", "-out", filepath.Join(dir, "central")}, io.Discard, io.Discard); code == 0 {
		t.Fatal("keygen overwrote an existing key")
	}
	centralPub, err := uplink.LoadPublicKey(filepath.Join(dir, "central.pub"))
	if err != nil {
		t.Fatal(err)
	}
	stationKey, err := uplink.LoadPrivateKey(filepath.Join(stations, "booth-01.key"))
	if err != nil {
		t.Fatal(err)
	}
	os.Rename(filepath.Join(stations, "booth-01.key"), filepath.Join(dir, "booth-01.key")) // only .pub files belong there

	store := filepath.Join(dir, "store")
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	served := make(chan int)
	go func() {
		served <- run(ctx, []string{"serve", "-listen", "127.0.0.1:0", "-store", store,
			"-key", filepath.Join(dir, "central.key"), "-stations", stations}, pw, io.Discard)
		pw.Close()
	}()
	line, err := bufio.NewReader(pr).ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	go io.Copy(io.Discard, pr)
	f := strings.Fields(line)
	if len(f) < 4 || !strings.HasPrefix(f[3], "ws://") {
		t.Fatalf("serve printed %q", line)
	}
	wsURL := f[3]
	httpURL := "http://" + strings.TrimSuffix(strings.TrimPrefix(wsURL, "ws://"), "/uplink")

	ob, err := outbox.Open(filepath.Join(dir, "outbox.db"), outbox.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer ob.Close()
	pkt := []byte("an enrollment packet")
	id := uplink.PacketID(pkt)
	if err := ob.Put(ctx, id, pkt); err != nil {
		t.Fatal(err)
	}
	acked := make(chan string, 1)
	cl, err := uplink.NewClient(uplink.ClientConfig{
		URL: wsURL, StationID: "booth-01", StationKey: stationKey, CentralKeys: []ed25519.PublicKey{centralPub},
		Logger: slog.New(slog.DiscardHandler), OnAck: func(id string) { acked <- id },
	}, ob)
	if err != nil {
		t.Fatal(err)
	}
	cctx, ccancel := context.WithCancel(ctx)
	clientDone := make(chan struct{})
	go func() { cl.Run(cctx); close(clientDone) }()
	select {
	case got := <-acked:
		if got != id {
			t.Fatalf("acked %s", got)
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("no receipt: %+v", cl.Stats())
	}
	ccancel()
	<-clientDone

	out.Reset()
	if code := run(ctx, []string{"list", "-url", httpURL}, &out, os.Stderr); code != 0 || !strings.Contains(out.String(), id) || !strings.Contains(out.String(), "booth-01") {
		t.Fatalf("list -url (exit %d):\n%s", code, out.String())
	}
	cancel()
	if code := <-served; code != 0 {
		t.Fatalf("serve exit %d", code)
	}
	out.Reset()
	if code := run(context.Background(), []string{"list", "-store", store, "-json"}, &out, os.Stderr); code != 0 || !strings.Contains(out.String(), `"station": "booth-01"`) {
		t.Fatalf("list -store (exit %d):\n%s", code, out.String())
	}
	got, err := os.ReadFile(filepath.Join(store, "packets", id+".pkt"))
	if err != nil || !bytes.Equal(got, pkt) {
		t.Fatalf("stored packet differs: %v", err)
	}
	if code := run(context.Background(), []string{"serve", "-store", store}, io.Discard, io.Discard); code != 2 {
		t.Fatalf("serve without -key: exit %d, want 2", code)
	}
}
