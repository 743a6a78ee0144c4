package camsim

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
)

// BuildDaemon compiles the simulator's stand-alone program
// (firmware-sim/camera/internal/camsimd) to out; moduleRoot is the path of
// the module's root from the caller's working directory.
func BuildDaemon(moduleRoot, out string) error {
	goBin, err := exec.LookPath("go")
	if err != nil {
		goBin = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	cmd := exec.Command(goBin, "build", "-o", out, "./firmware-sim/camera/internal/camsimd")
	cmd.Dir = moduleRoot
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("building the simulated camera: %v\n%s", err, b)
	}
	return nil
}

// StartDaemon runs the built simulator with args and returns its stream
// URL (its first output line) and a function that stops it by its pid.
func StartDaemon(bin string, args ...string) (url string, stop func(), err error) {
	cmd := exec.Command(bin, args...)
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return "", nil, err
	}
	stop = func() {
		stdin.Close()
		cmd.Process.Kill()
		cmd.Wait()
	}
	line, err := bufio.NewReader(stdout).ReadString('\n')
	url, ok := strings.CutPrefix(strings.TrimSpace(line), "stream: ")
	if err != nil || !ok {
		stop()
		return "", nil, fmt.Errorf("simulated camera said %q: %v", line, err)
	}
	return url, stop, nil
}
