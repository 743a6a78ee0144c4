// Command stationctl is the technician's and operator's command-line tool:
// it talks to a running stationd (devices, selftest, calibrate) and works on
// files offline (finger-quality, face-quality, wsq, card).
//
// Each subcommand lives in its own file and registers itself from init with
// register, so families of commands can grow without touching this file.
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
)

// command is one stationctl subcommand.
type command struct {
	name    string
	summary string // one line for the usage listing
	// run gets the arguments after the subcommand's name and writes its
	// output to stdout. An error is printed by main, which exits 1; a
	// usageError exits 2.
	run func(args []string, stdout io.Writer) error
}

var commands = map[string]command{}

func register(c command) {
	if _, dup := commands[c.name]; dup {
		panic("stationctl: command registered twice: " + c.name)
	}
	commands[c.name] = c
}

// usageError marks a mistake in how the command was called.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: stationctl COMMAND [flags] [args]")
	fmt.Fprintln(w, "\ncommands:")
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-16s %s\n", n, commands[n].summary)
	}
	fmt.Fprintln(w, "\nRun 'stationctl COMMAND -h' for a command's flags.")
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(stderr)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	c, ok := commands[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "stationctl: unknown command %q\n\n", args[0])
		usage(stderr)
		return 2
	}
	if err := c.run(args[1:], stdout); err != nil {
		if err == flag.ErrHelp {
			return 0
		}
		fmt.Fprintf(stderr, "stationctl %s: %s\n", c.name, strings.TrimSpace(err.Error()))
		if _, isUsage := err.(usageError); isUsage {
			return 2
		}
		return 1
	}
	return 0
}

// newFlags returns a flag set for a subcommand that reports errors by
// returning them rather than exiting.
func newFlags(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("stationctl "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	return fs
}
