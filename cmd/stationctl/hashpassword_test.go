package main

import (
	"strings"
	"testing"

	"github.com/openenroll/stationd/station/api"
)

func TestHashPassword(t *testing.T) {
	var out strings.Builder
	if err := hashPasswordFrom(strings.NewReader("correct horse\n"), &out); err != nil {
		t.Fatal(err)
	}
	h := strings.TrimSpace(out.String())
	auth, err := api.NewAuth(api.AuthOptions{DisableToken: true, Accounts: []api.Account{{Name: "o1", Role: "operator", PasswordHash: h}}})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := auth.Login("127.0.0.1", "o1", "correct horse", ""); err != nil {
		t.Fatalf("login with the hashed password: %v", err)
	}
	if _, _, err := auth.Login("127.0.0.1", "o1", "wrong horse", ""); err == nil {
		t.Fatal("wrong password accepted")
	}
	if err := hashPasswordFrom(strings.NewReader("short\n"), &out); err == nil {
		t.Fatal("short password accepted")
	}
}
