package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/openenroll/stationd/firmware-sim/card"
)

type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) { s.mu.Lock(); defer s.mu.Unlock(); return s.b.Write(p) }

// TestServeCardReconnects plays vpcd with a TCP listener: the simulator
// answers the ATR request, and reconnects after vpcd drops the link (as
// when pcscd restarts), but not after a "remove" command.
func TestServeCardReconnects(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmds := make(chan string)
	out := &syncBuf{}
	done := make(chan error, 1)
	go func() { done <- serveCard(ctx, card.New(), ln.Addr().String(), cmds, out) }()
	atr := func(conn net.Conn) []byte {
		conn.SetDeadline(time.Now().Add(10 * time.Second))
		conn.Write([]byte{0, 1, 4})
		var l [2]byte
		if _, err := io.ReadFull(conn, l[:]); err != nil {
			t.Fatal(err)
		}
		b := make([]byte, binary.BigEndian.Uint16(l[:]))
		io.ReadFull(conn, b)
		return b
	}
	conn, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	if got := atr(conn); !bytes.Equal(got, card.ATR) {
		t.Fatalf("ATR % X", got)
	}
	conn.Close() // vpcd goes away
	conn, err = ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	if got := atr(conn); !bytes.Equal(got, card.ATR) {
		t.Fatalf("ATR after reconnect % X", got)
	}
	cmds <- "remove"
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := conn.Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("after remove: %v", err)
	}
	cmds <- "quit"
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
