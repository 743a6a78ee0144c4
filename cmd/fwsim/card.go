package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/openenroll/stationd/devices/smartcard/emrtd"
	"github.com/openenroll/stationd/firmware-sim/card"
)

func init() {
	register(simulator{
		name:    "card",
		summary: "an ICAO 9303 chip card (eMRTD) in pcscd's vpcd reader, blank or personalized",
		run:     runCard,
	})
}

const cardControlHelp = `  insert              put the card in the reader
  remove              take it out
  pull-after N        remove the card when the Nth APDU from now arrives
  bad-mac-after N     corrupt the MAC of the Nth secure-messaging response
  delay DURATION      answer every APDU this much later (e.g. 50ms)
  quit                stop`

func runCard(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("card", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: fwsim card [--blank | --data DIR] [--vpcd ADDR]\n\nConnects a simulated eMRTD chip to vpcd (pcscd must run with the vpcd\nreader) so any PC/SC client sees a card in \"Virtual PCD\". Control commands\non stdin, one per line:")
		fmt.Fprintln(stderr, cardControlHelp)
		fmt.Fprintln(stderr, "\nflags:")
		fs.PrintDefaults()
	}
	blank := fs.Bool("blank", false, "a blank, unlocked card for personalization (the default without --data)")
	data := fs.String("data", "", "personalize the card from this data set directory (see testdata/card/README.md)")
	addr := fs.String("vpcd", card.DefaultVPCDAddr, "vpcd address (CHANNELID of /etc/reader.conf.d/vpcd)")
	stdin := fs.Bool("stdin", true, "read control commands from stdin")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if *blank && *data != "" {
		return fmt.Errorf("--blank and --data exclude each other")
	}
	var c *card.Card
	if *data != "" {
		ds, err := emrtd.LoadDataSet(*data)
		if err != nil {
			return err
		}
		files, err := ds.Files()
		if err != nil {
			return err
		}
		k := ds.Keys.MRZ
		c = card.NewPersonalized(card.Profile{Files: files, DocumentNumber: k.DocumentNumber, BirthDate: k.BirthDate,
			ExpiryDate: k.ExpiryDate, CAN: ds.Keys.CAN, AAKey: ds.Keys.AAKey, Locked: true})
		fmt.Fprintf(stdout, "card: personalized\nmrz: %s,%s,%s\n", k.DocumentNumber, k.BirthDate, k.ExpiryDate)
		if ds.Keys.CAN != "" {
			fmt.Fprintf(stdout, "can: %s\n", ds.Keys.CAN)
		}
	} else {
		c = card.New()
		fmt.Fprintln(stdout, "card: blank")
	}
	fmt.Fprintf(stdout, "vpcd: %s\n", *addr)
	cmds := make(chan string)
	if *stdin {
		go func() {
			sc := bufio.NewScanner(os.Stdin)
			for sc.Scan() {
				cmds <- strings.TrimSpace(sc.Text())
			}
			close(cmds)
		}()
	}
	return serveCard(ctx, c, *addr, cmds, stdout)
}

// reinsertWait is how long to wait before reconnecting when vpcd dropped
// the card (pcscd restarted) rather than the user removing it.
const reinsertWait = 500 * time.Millisecond

func serveCard(ctx context.Context, c *card.Card, addr string, cmds <-chan string, out io.Writer) error {
	want := true // the user wants the card in the reader
	var linkDone <-chan struct{}
	insert := func() {
		if err := c.Insert(ctx, addr); err != nil {
			fmt.Fprintf(out, "insert failed: %v\n", err)
			linkDone = nil
			return
		}
		linkDone = c.Done()
		fmt.Fprintln(out, "inserted")
	}
	insert()
	retry := time.NewTimer(reinsertWait)
	defer retry.Stop()
	for {
		select {
		case <-ctx.Done():
			c.Remove()
			return nil
		case <-linkDone:
			linkDone = nil
			fmt.Fprintln(out, "removed")
			if want {
				retry.Reset(reinsertWait)
			}
		case <-retry.C:
			if want && linkDone == nil {
				insert()
				if linkDone == nil {
					retry.Reset(reinsertWait)
				}
			}
		case line, ok := <-cmds:
			if !ok {
				cmds = nil
				continue
			}
			f := strings.Fields(line)
			if len(f) == 0 {
				continue
			}
			arg := func() int {
				if len(f) < 2 {
					return 0
				}
				n, _ := strconv.Atoi(f[1])
				return n
			}
			switch f[0] {
			case "insert":
				want = true
				if linkDone == nil {
					insert()
				}
			case "remove":
				want = false
				c.Remove()
			case "pull-after":
				c.SetFaults(card.Faults{PullAfter: arg()})
			case "bad-mac-after":
				c.SetFaults(card.Faults{BadMACAfter: arg()})
			case "delay":
				d, err := time.ParseDuration(strings.Join(f[1:], ""))
				if err != nil {
					fmt.Fprintf(out, "delay: %v\n", err)
					continue
				}
				c.SetFaults(card.Faults{Delay: d})
			case "quit":
				c.Remove()
				return nil
			default:
				fmt.Fprintf(out, "unknown command %q; commands:\n%s\n", f[0], cardControlHelp)
			}
		}
	}
}
