package smartcard_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/openenroll/stationd/devices/smartcard"
	"github.com/openenroll/stationd/firmware-sim/card"
	"github.com/openenroll/stationd/internal/pcscdtest"
)

// One pcscd for the whole package: tests run one after another and take
// turns with the simulated card on vpcd's single slot.
var haveDaemon bool

func TestMain(m *testing.M) {
	if _, err := exec.LookPath("pcscd"); err == nil {
		d, err := pcscdtest.Start()
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		haveDaemon = true
		code := m.Run()
		d.Stop()
		os.Exit(code)
	}
	os.Exit(m.Run())
}

// vpcdReader returns the simulated reader's PC/SC name.
func vpcdReader(tb testing.TB) string {
	tb.Helper()
	if !haveDaemon {
		tb.Skip("pcscd not installed; apt-get install pcscd vsmartcard-vpcd")
	}
	rs, err := smartcard.ListReaders()
	if err != nil {
		tb.Fatal(err)
	}
	name, ok := smartcard.MatchReader(rs, "Virtual PCD")
	if !ok {
		tb.Fatalf("no vpcd reader among %q", rs)
	}
	return name
}

// insert puts c into the virtual reader and connects to it through pcscd.
// Cleanup disconnects, pulls the card and waits until pcscd has seen it go,
// so the next test starts with an empty reader.
func insert(tb testing.TB, c *card.Card) *smartcard.Card {
	tb.Helper()
	name := vpcdReader(tb)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := smartcard.WaitCard(ctx, name, false); err != nil {
		tb.Fatalf("reader not empty before the test: %v", err)
	}
	if err := c.Insert(ctx, pcscdtest.VPCDAddr); err != nil {
		tb.Fatal(err)
	}
	sc, err := smartcard.Connect(ctx, name)
	if err != nil {
		c.Remove()
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		sc.Close()
		c.Remove()
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		if err := smartcard.WaitCard(ctx, name, false); err != nil {
			tb.Errorf("card removal not seen by pcscd: %v", err)
		}
	})
	return sc
}
