// Command fwsim runs the station's device simulators standalone, so that
// `make run`, a technician or any other tool (a PC/SC client, a serial
// terminal) can talk to simulated hardware over the real interfaces.
//
//	fwsim zfm  [flags]   a serial fingerprint module on a pty (prints its path)
//	fwsim card [flags]   a chip card connected to vpcd behind pcscd
//	...
//
// Each simulator lives in its own file and registers itself from init.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"syscall"
)

type simulator struct {
	name    string
	summary string
	// run runs until ctx is cancelled (SIGINT/SIGTERM) or the simulator
	// fails. It prints what a user needs to connect (a pty path, a port)
	// to stdout, one "key: value" line each, before it starts serving.
	run func(ctx context.Context, args []string, stdout, stderr io.Writer) error
}

var simulators = map[string]simulator{}

func register(s simulator) {
	if _, dup := simulators[s.name]; dup {
		panic("fwsim: simulator registered twice: " + s.name)
	}
	simulators[s.name] = s
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: fwsim SIMULATOR [flags]")
	names := make([]string, 0, len(simulators))
	for n := range simulators {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-8s %s\n", n, simulators[n].summary)
	}
}

func main() {
	if len(os.Args) < 2 {
		usage(os.Stderr)
		os.Exit(2)
	}
	s, ok := simulators[os.Args[1]]
	if !ok {
		fmt.Fprintf(os.Stderr, "fwsim: unknown simulator %q\n", os.Args[1])
		usage(os.Stderr)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := s.run(ctx, os.Args[2:], os.Stdout, os.Stderr); err != nil && ctx.Err() == nil {
		fmt.Fprintf(os.Stderr, "fwsim %s: %v\n", s.name, err)
		os.Exit(1)
	}
}
