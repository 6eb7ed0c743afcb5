package rfb

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
)

func TestParseVersion(t *testing.T) {
	tests := []struct {
		in      string
		want    Version
		wantErr bool
	}{
		{in: "RFB 003.008\n", want: V38},
		{in: "RFB 003.003\n", want: V33},
		{in: "RFB 004.001\n", want: Version{4, 1}},
		{in: "RFB 003.008", wantErr: true},
		{in: "RFB 0a3.008\n", wantErr: true},
		{in: "HTTP/1.1 200\n", wantErr: true},
	}
	for _, tt := range tests {
		got, err := parseVersion([]byte(tt.in))
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("parseVersion(%q) = %v, %v; want %v, err %v",
				tt.in, got, err, tt.want, tt.wantErr)
		}
	}
}

func TestNegotiate(t *testing.T) {
	tests := []struct {
		in, want Version
		wantErr  bool
	}{
		{in: V38, want: V38},
		{in: V37, want: V37},
		{in: Version{3, 5}, want: V33},
		{in: Version{3, 889}, want: V38},
		{in: Version{4, 0}, want: V38},
		{in: Version{3, 2}, wantErr: true},
		{in: Version{2, 9}, wantErr: true},
	}
	for _, tt := range tests {
		got, err := negotiate(tt.in)
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("negotiate(%v) = %v, %v; want %v", tt.in, got, err, tt.want)
		}
	}
}

// TestEncryptChallenge checks the DES response against a vector computed
// independently with OpenSSL: des-ecb under the bit-reversed key
// 0e86ceceeef64e26 ("password") of the bytes 00 01 .. 0f.
func TestEncryptChallenge(t *testing.T) {
	var challenge [16]byte
	for i := range challenge {
		challenge[i] = byte(i)
	}
	got, err := EncryptChallenge([]byte("password"), challenge)
	if err != nil {
		t.Fatal(err)
	}
	if want := "b866924125c8eebb9debc1db61c538e2"; fmt.Sprintf("%x", got) != want {
		t.Errorf("response %x, want %s", got, want)
	}

	// A password longer than eight bytes is truncated, a shorter one padded.
	long, _ := EncryptChallenge([]byte("password-and-more"), challenge)
	if long != got {
		t.Errorf("long password: got %x, want %x", long, got)
	}
	short, _ := EncryptChallenge([]byte("pass"), challenge)
	if short == got {
		t.Errorf("short password gave the same response as a longer one")
	}
}

// TestAcceptOffersOnlyNone reads the raw bytes a viewer receives.
func TestAcceptOffersOnlyNone(t *testing.T) {
	viewer, relay := net.Pipe()
	defer viewer.Close()
	done := make(chan error, 1)
	go func() {
		_, err := Accept(relay)
		relay.Close()
		done <- err
	}()

	// The greeting is 3.8, then exactly one type: None.
	br := bufio.NewReader(viewer)
	greeting := make([]byte, 12)
	mustRead(t, br, greeting)
	if string(greeting) != "RFB 003.008\n" {
		t.Fatalf("greeting %q", greeting)
	}
	mustWrite(t, viewer, []byte("RFB 003.008\n"))
	types := make([]byte, 2)
	mustRead(t, br, types)
	if !bytes.Equal(types, []byte{1, SecNone}) {
		t.Fatalf("security types %v, want [1 1]", types)
	}
	mustWrite(t, viewer, []byte{SecNone})
	result := make([]byte, 4)
	mustRead(t, br, result)
	if !bytes.Equal(result, []byte{0, 0, 0, 0}) {
		t.Fatalf("security result %v", result)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// TestAcceptRefusesVNCAuth checks that a viewer asking for VNC authentication
// is refused with a reason.
func TestAcceptRefusesVNCAuth(t *testing.T) {
	viewer, relay := net.Pipe()
	defer viewer.Close()
	done := make(chan error, 1)
	go func() {
		_, err := Accept(relay)
		relay.Close()
		done <- err
	}()

	br := bufio.NewReader(viewer)
	mustRead(t, br, make([]byte, 12))
	mustWrite(t, viewer, []byte("RFB 003.008\n"))
	mustRead(t, br, make([]byte, 2))
	mustWrite(t, viewer, []byte{SecVNCAuth})
	err := readSecurityResult(br, V38)
	if !errors.Is(err, ErrAuthFailed) || !strings.Contains(err.Error(), "None") {
		t.Errorf("viewer saw %v, want a refusal naming None", err)
	}
	if err := <-done; !errors.Is(err, ErrNoCommonSecurity) {
		t.Errorf("Accept returned %v", err)
	}
}

// TestConnectToAccept runs this package's client against its own server
// side, for each version a viewer may answer with.
func TestConnectToAccept(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	done := make(chan error, 1)
	go func() {
		_, err := Accept(b)
		done <- err
	}()
	v, err := Connect(a, nil)
	if err != nil || v != V38 {
		t.Fatalf("Connect = %v, %v", v, err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}

	// A password-holding client cannot use a None-only server.
	a2, b2 := net.Pipe()
	defer a2.Close()
	defer b2.Close()
	go func() { _, _ = Accept(b2) }()
	if _, err := Connect(a2, []byte("secret")); !errors.Is(err, ErrNoCommonSecurity) {
		t.Errorf("Connect with a password to a None server: %v", err)
	}
}

func mustRead(t *testing.T, r interface{ Read([]byte) (int, error) }, b []byte) {
	t.Helper()
	for n := 0; n < len(b); {
		m, err := r.Read(b[n:])
		if err != nil {
			t.Fatalf("read: %v", err)
		}
		n += m
	}
}

func mustWrite(t *testing.T, c net.Conn, b []byte) {
	t.Helper()
	if _, err := c.Write(b); err != nil {
		t.Fatalf("write: %v", err)
	}
}
