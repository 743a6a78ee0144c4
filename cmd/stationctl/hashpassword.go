package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/openenroll/stationd/station/api"
)

func init() {
	register(command{name: "hash-password", summary: "read a password on stdin, print its password_hash for [[auth.accounts]]", run: runHashPassword})
}

// runHashPassword reads one line (the password) from standard input, so it
// never appears in the shell's history or the process list.
func runHashPassword(args []string, stdout io.Writer) error {
	fs := newFlags("hash-password", os.Stderr)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageError{"the password is read from standard input, not given as an argument"}
	}
	return hashPasswordFrom(os.Stdin, stdout)
}

func hashPasswordFrom(in io.Reader, out io.Writer) error {
	line, err := bufio.NewReader(in).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return err
	}
	pw := strings.TrimRight(line, "\r\n")
	if len(pw) < 8 {
		return errors.New("password shorter than 8 characters")
	}
	h, err := api.HashPassword(pw)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(out, h)
	return err
}
