package rfb

import (
	"bytes"
	"io"
	"testing"
)

// scripted is a peer whose bytes are fixed in advance; what the handshake
// writes is kept for inspection.
type scripted struct {
	in  *bytes.Reader
	out bytes.Buffer
}

func (s *scripted) Read(p []byte) (int, error)  { return s.in.Read(p) }
func (s *scripted) Write(p []byte) (int, error) { return s.out.Write(p) }

// FuzzConnect feeds arbitrary server bytes to the client side of the
// handshake. It must never panic or allocate without bound, must refuse a
// server that does not offer the required type, and must send the password
// only as a DES response, never in clear.
func FuzzConnect(f *testing.F) {
	f.Add([]byte("RFB 003.008\n\x01\x02"+"0123456789abcdef"+"\x00\x00\x00\x00"), true)
	f.Add([]byte("RFB 003.008\n\x01\x01\x00\x00\x00\x00"), false)
	f.Add([]byte("RFB 003.003\n\x00\x00\x00\x02"+"0123456789abcdef"+"\x00\x00\x00\x00"), true)
	f.Add([]byte("RFB 003.007\n\x00\x00\x00\x00\x05nope!"), false)
	f.Add([]byte("RFB 003.008\n\x01\x02"+"0123456789abcdef"+"\x00\x00\x00\x01\xff\xff\xff\xff"), true)
	f.Fuzz(func(t *testing.T, server []byte, withPassword bool) {
		var password []byte
		if withPassword {
			password = []byte("pw-in-clear")
		}
		peer := &scripted{in: bytes.NewReader(server)}
		_, err := Connect(peer, password)
		if withPassword && bytes.Contains(peer.out.Bytes(), []byte("pw-in")) {
			t.Fatalf("password sent in clear: %q", peer.out.Bytes())
		}
		if err == nil && withPassword && !bytes.Contains(server, []byte{2}) {
			t.Fatalf("authenticated without a VNC authentication offer")
		}
	})
}

// FuzzAccept feeds arbitrary viewer bytes to the server side of the
// handshake. Whatever the viewer says, the only security type ever offered
// is None, and success means the viewer picked None.
func FuzzAccept(f *testing.F) {
	f.Add([]byte("RFB 003.008\n\x01"))
	f.Add([]byte("RFB 003.003\n"))
	f.Add([]byte("RFB 003.007\n\x02"))
	f.Add([]byte("RFB 003.009\n\x01"))
	f.Add([]byte("RFB 000.000\n"))
	f.Fuzz(func(t *testing.T, viewer []byte) {
		peer := &scripted{in: bytes.NewReader(viewer)}
		v, err := Accept(peer)
		out := peer.out.Bytes()
		if !bytes.HasPrefix(out, []byte("RFB 003.008\n")) {
			t.Fatalf("greeting %q", out)
		}
		rest := out[12:]
		switch {
		case v == V33 && err == nil:
			if !bytes.Equal(rest, []byte{0, 0, 0, SecNone}) {
				t.Fatalf("3.3 security %v", rest)
			}
		case len(rest) >= 2:
			if rest[0] != 1 || rest[1] != SecNone {
				t.Fatalf("offered %v", rest[:2])
			}
		}
		if err == nil && v != V33 && viewer[12] != SecNone {
			t.Fatalf("accepted type %d", viewer[12])
		}
		_, _ = io.Copy(io.Discard, peer.in)
	})
}
