// Command simstation is `make run`: it starts the simulated devices, the
// reference central and stationd configured to use them, prints the operator
// UI's address, and on Ctrl-C stops everything it started, by process id.
//
//	simstation -bin bin [-listen 127.0.0.1:8787] [-dir var/sim]
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"time"
)

// proc is one process simstation started.
type proc struct {
	name string
	cmd  *exec.Cmd
	done chan error
}

type launcher struct {
	bin   string
	dir   string
	procs []*proc
	log   io.Writer
}

// start runs a program and waits until a line of its stdout matches ready
// (when given), returning the submatches. The program's output goes to
// dir/NAME.log; stdout lines are also scanned for ready.
func (l *launcher) start(ctx context.Context, name string, ready *regexp.Regexp, prog string, args ...string) ([]string, error) {
	logf, err := os.Create(filepath.Join(l.dir, name+".log"))
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(prog, args...)
	cmd.Stderr = logf
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // Ctrl-C in the terminal reaches us, not them
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %w", name, err)
	}
	p := &proc{name: name, cmd: cmd, done: make(chan error, 1)}
	l.procs = append(l.procs, p)
	found := make(chan []string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		sent := false
		for sc.Scan() {
			line := sc.Text()
			fmt.Fprintln(logf, line)
			if !sent && ready != nil {
				if m := ready.FindStringSubmatch(line); m != nil {
					found <- m
					sent = true
				}
			}
		}
		p.done <- cmd.Wait()
		logf.Close()
		close(found)
	}()
	if ready == nil {
		return nil, nil
	}
	select {
	case m, ok := <-found:
		if !ok {
			return nil, fmt.Errorf("%s exited before it was ready; see %s", name, logf.Name())
		}
		return m, nil
	case <-time.After(30 * time.Second):
		return nil, fmt.Errorf("%s not ready after 30 s; see %s", name, logf.Name())
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// stopAll stops the processes in reverse order: SIGTERM, then SIGKILL for
// one that has not exited after a grace period.
func (l *launcher) stopAll() {
	for i := len(l.procs) - 1; i >= 0; i-- {
		p := l.procs[i]
		if p.cmd.Process == nil {
			continue
		}
		p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(3 * time.Second):
			fmt.Fprintf(l.log, "simstation: %s (pid %d) did not stop; killing it\n", p.name, p.cmd.Process.Pid)
			p.cmd.Process.Kill()
			<-p.done
		}
	}
}

func main() {
	bin := flag.String("bin", "bin", "directory holding the built stationd, fwsim and central")
	dir := flag.String("dir", filepath.Join("var", "sim"), "directory for the simulated station's logs and data")
	listen := flag.String("listen", "127.0.0.1:8787", "address of the operator UI")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := os.MkdirAll(*dir, 0o700); err != nil {
		fmt.Fprintln(os.Stderr, "simstation:", err)
		os.Exit(1)
	}
	l := &launcher{bin: *bin, dir: *dir, log: os.Stderr}
	err := runStation(ctx, l, *listen)
	if err == nil {
		<-ctx.Done()
		fmt.Println("\nsimstation: stopping")
	}
	l.stopAll()
	if err != nil && !errors.Is(err, context.Canceled) {
		fmt.Fprintln(os.Stderr, "simstation:", err)
		os.Exit(1)
	}
}

// runStation starts every simulator that exists, then stationd.
func runStation(ctx context.Context, l *launcher, listen string) error {
	var devices []string
	for _, s := range simulators {
		dev, err := s(ctx, l)
		if err != nil {
			return err
		}
		devices = append(devices, dev)
	}
	cfg := filepath.Join(l.dir, "stationd.toml")
	doc := fmt.Sprintf("# written by simstation for `make run`\n[station]\nid = \"sim-booth-01\"\ndata_dir = %q\n\n%s",
		filepath.Join(l.dir, "data"), strings.Join(devices, "\n"))
	if err := os.WriteFile(cfg, []byte(doc), 0o600); err != nil {
		return err
	}
	m, err := l.start(ctx, "stationd", regexp.MustCompile(`operator UI at (\S+)`), filepath.Join(l.bin, "stationd"), "-config", cfg, "-listen", listen)
	if err != nil {
		return err
	}
	fmt.Printf("\nOperator UI: %s\n(logs in %s; Ctrl-C stops the station and its simulators)\n", m[1], l.dir)
	return nil
}

// simulators start one simulated device each and return its [[device]]
// configuration. Each device family adds its own (see sims.go).
var simulators []func(ctx context.Context, l *launcher) (string, error)
