package uplink

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	mrand "math/rand/v2"
	"path/filepath"
	"testing"
	"time"

	"github.com/openenroll/stationd/station/outbox"
	"github.com/openenroll/stationd/station/uplink/internal/flakyproxy"
)

// BenchmarkUplinkGoodput uploads 12 MiB of packets through a proxy capped
// at 8 MiB/s (no cuts) and reports goodput_fraction = payload bytes /
// (link rate × elapsed time). The goal is ≥ 0.90.
func BenchmarkUplinkGoodput(b *testing.B) {
	const rate = 8 << 20
	c := startCentral(b, centralOpts{})
	p, err := flakyproxy.Start(flakyproxy.Config{Target: c.http.Listener.Addr().String(), Rate: rate})
	if err != nil {
		b.Fatal(err)
	}
	defer p.Close()
	r := mrand.New(mrand.NewPCG(5, 6))
	var elapsed time.Duration
	var payload int64
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		ob, err := outbox.Open(filepath.Join(b.TempDir(), "outbox.db"), outbox.Options{Logger: quiet()})
		if err != nil {
			b.Fatal(err)
		}
		acked := make(chan string, 64)
		station := "bench-" + string(rune('a'+i%26))
		_, key, _ := ed25519.GenerateKey(rand.Reader)
		c.keys[station] = key.Public().(ed25519.PublicKey)
		n := 0
		for payloadThis := 0; payloadThis < 12<<20; n++ {
			d := randPacket(r, 512<<10+r.IntN(1<<20)) // 0.5-1.5 MB, like face + ten fingers
			if err := ob.Put(context.Background(), PacketID(d), d); err != nil {
				b.Fatal(err)
			}
			payloadThis += len(d)
			payload += int64(len(d))
		}
		cl, err := NewClient(ClientConfig{
			URL: "ws://" + p.Addr() + "/uplink", StationID: station, StationKey: key,
			CentralKeys: []ed25519.PublicKey{c.pub}, Logger: quiet(),
			OnAck: func(id string) { acked <- id },
		}, ob)
		if err != nil {
			b.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		b.StartTimer()
		start := time.Now()
		go func() { cl.Run(ctx); close(done) }()
		for j := 0; j < n; j++ {
			<-acked
		}
		elapsed += time.Since(start)
		b.StopTimer()
		cancel()
		<-done
		ob.Close()
		if st := cl.Stats(); st.ResentBytes != 0 {
			b.Fatalf("re-sent %d bytes", st.ResentBytes)
		}
		b.StartTimer()
	}
	b.ReportMetric(float64(payload)/(rate*elapsed.Seconds()), "goodput_fraction")
	b.ReportMetric(float64(payload)/elapsed.Seconds()/(1<<20), "MiB/s")
}
