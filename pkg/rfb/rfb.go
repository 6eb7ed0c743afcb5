// Package rfb terminates the security phase of the RFB (VNC) protocol on both
// sides of a relay, so that a VNC password never has to reach the viewer.
//
// Toward the viewer, Accept plays the server and offers security type None
// only. Toward the VNC server, Connect plays the client and answers VNC
// authentication with a password held by the relay, or uses None when the
// server offers it and no password is set. After both handshakes the
// initialisation messages (ClientInit, ServerInit) and everything that follows
// are identical for every protocol version, so the caller copies bytes.
//
// Protocol versions 3.3, 3.7 and 3.8 are spoken on either side. The package
// does no I/O of its own beyond the given streams and sets no deadlines; the
// caller bounds the handshake in time.
package rfb

import (
	"crypto/des"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/bits"
)

// Version is an RFB protocol version, such as 3.8.
type Version struct {
	Major, Minor int
}

// Protocol versions this package speaks.
var (
	V33 = Version{3, 3}
	V37 = Version{3, 7}
	V38 = Version{3, 8}
)

// Security types of the RFB protocol that this package knows.
const (
	SecInvalid uint8 = 0
	SecNone    uint8 = 1
	SecVNCAuth uint8 = 2
)

const (
	// versionLen is the length of a ProtocolVersion message.
	versionLen = 12

	// maxReason bounds the failure reason read from a peer, so that a hostile
	// length field cannot make the relay allocate without limit.
	maxReason = 4096
)

// ErrAuthFailed reports that the VNC server refused the password.
var ErrAuthFailed = errors.New("rfb: VNC server refused authentication")

// ErrNoCommonSecurity reports that the peer offers no security type that
// this side accepts.
var ErrNoCommonSecurity = errors.New("rfb: no common security type")

// RefusedError is a refusal sent by the server, with its reason.
type RefusedError struct {
	Reason string
}

func (e *RefusedError) Error() string {
	return fmt.Sprintf("rfb: server refused the connection: %q", e.Reason)
}

// String returns the version as it appears in a ProtocolVersion message,
// without the trailing newline, e.g. "RFB 003.008".
func (v Version) String() string {
	return fmt.Sprintf("RFB %03d.%03d", v.Major, v.Minor)
}

// less reports whether v is an older version than o.
func (v Version) less(o Version) bool {
	return v.Major < o.Major || (v.Major == o.Major && v.Minor < o.Minor)
}

// ReadVersion reads a ProtocolVersion message, as a server sends it first.
// A readiness probe uses it to learn that a VNC server answers.
func ReadVersion(r io.Reader) (Version, error) {
	var b [versionLen]byte
	if _, err := io.ReadFull(r, b[:]); err != nil {
		return Version{}, fmt.Errorf("rfb: read protocol version: %w", err)
	}
	return parseVersion(b[:])
}

// parseVersion parses "RFB xxx.yyy\n".
func parseVersion(b []byte) (Version, error) {
	if len(b) != versionLen || string(b[:4]) != "RFB " || b[7] != '.' || b[11] != '\n' {
		return Version{}, fmt.Errorf("rfb: not a protocol version: %q", b)
	}
	major, ok1 := atoi3(b[4:7])
	minor, ok2 := atoi3(b[8:11])
	if !ok1 || !ok2 {
		return Version{}, fmt.Errorf("rfb: not a protocol version: %q", b)
	}
	return Version{major, minor}, nil
}

func atoi3(b []byte) (int, bool) {
	n := 0
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}

// negotiate maps the version a peer announces to the one both sides speak,
// following the specification: anything above 3.8 is spoken as 3.8, 3.7 and
// 3.8 as themselves, and anything else from 3.3 on as 3.3.
func negotiate(v Version) (Version, error) {
	switch {
	case v.Major < 3 || (v.Major == 3 && v.Minor < 3):
		return Version{}, fmt.Errorf("rfb: unsupported protocol version %s", v)
	case !v.less(V38):
		return V38, nil
	case v == V37:
		return V37, nil
	default:
		return V33, nil
	}
}

// Connect performs the client side of the handshake with a VNC server, up to
// and including the security result. With a password it answers VNC
// authentication; without one it requires the server to offer None. It
// returns the version spoken.
func Connect(rw io.ReadWriter, password []byte) (Version, error) {
	// Read the server's version and answer with the one both speak.
	sv, err := ReadVersion(rw)
	if err != nil {
		return Version{}, err
	}
	v, err := negotiate(sv)
	if err != nil {
		return Version{}, err
	}
	if _, err := io.WriteString(rw, v.String()+"\n"); err != nil {
		return Version{}, fmt.Errorf("rfb: write protocol version: %w", err)
	}

	// Agree on a security type.
	sec, err := chooseSecurity(rw, v, password != nil)
	if err != nil {
		return Version{}, err
	}

	// Authenticate, then read the result where the version sends one.
	if sec == SecVNCAuth {
		if err := answerChallenge(rw, password); err != nil {
			return Version{}, err
		}
	}
	if sec == SecVNCAuth || v == V38 {
		if err := readSecurityResult(rw, v); err != nil {
			return Version{}, err
		}
	}
	return v, nil
}

// chooseSecurity reads the server's security offer and picks VNC
// authentication when a password is at hand, else None.
func chooseSecurity(rw io.ReadWriter, v Version, havePassword bool) (uint8, error) {
	want := SecNone
	if havePassword {
		want = SecVNCAuth
	}

	// Version 3.3: the server decides alone.
	if v == V33 {
		var b [4]byte
		if _, err := io.ReadFull(rw, b[:]); err != nil {
			return 0, fmt.Errorf("rfb: read security type: %w", err)
		}
		t := binary.BigEndian.Uint32(b[:])
		switch {
		case t == uint32(SecInvalid):
			return 0, readRefusal(rw)
		case t != uint32(want):
			return 0, fmt.Errorf("%w: server requires type %d", ErrNoCommonSecurity, t)
		}
		return want, nil
	}

	// Versions 3.7 and 3.8: the server lists, the client picks.
	var n [1]byte
	if _, err := io.ReadFull(rw, n[:]); err != nil {
		return 0, fmt.Errorf("rfb: read security types: %w", err)
	}
	if n[0] == 0 {
		return 0, readRefusal(rw)
	}
	types := make([]byte, n[0])
	if _, err := io.ReadFull(rw, types); err != nil {
		return 0, fmt.Errorf("rfb: read security types: %w", err)
	}
	for _, t := range types {
		if t == want {
			if _, err := rw.Write([]byte{want}); err != nil {
				return 0, fmt.Errorf("rfb: write security type: %w", err)
			}
			return want, nil
		}
	}
	return 0, fmt.Errorf("%w: server offers %v, want %d", ErrNoCommonSecurity, types, want)
}

// answerChallenge reads the 16-byte VNC authentication challenge and writes
// it back DES-encrypted with the password as the key.
func answerChallenge(rw io.ReadWriter, password []byte) error {
	var challenge [16]byte
	if _, err := io.ReadFull(rw, challenge[:]); err != nil {
		return fmt.Errorf("rfb: read challenge: %w", err)
	}
	resp, err := EncryptChallenge(password, challenge)
	if err != nil {
		return err
	}
	if _, err := rw.Write(resp[:]); err != nil {
		return fmt.Errorf("rfb: write challenge response: %w", err)
	}
	return nil
}

// EncryptChallenge computes the response to a VNC authentication challenge:
// the challenge encrypted with DES in ECB mode under the first eight bytes of
// the password, zero-padded, with the bits of each key byte reversed.
func EncryptChallenge(password []byte, challenge [16]byte) ([16]byte, error) {
	var key [8]byte
	copy(key[:], password)
	for i, b := range key {
		key[i] = bits.Reverse8(b)
	}
	block, err := des.NewCipher(key[:])
	if err != nil {
		return [16]byte{}, fmt.Errorf("rfb: DES key: %w", err)
	}
	var out [16]byte
	block.Encrypt(out[:8], challenge[:8])
	block.Encrypt(out[8:], challenge[8:])
	return out, nil
}

// readSecurityResult reads the SecurityResult message and, on failure, the
// reason that version 3.8 appends.
func readSecurityResult(r io.Reader, v Version) error {
	var b [4]byte
	if _, err := io.ReadFull(r, b[:]); err != nil {
		return fmt.Errorf("rfb: read security result: %w", err)
	}
	if binary.BigEndian.Uint32(b[:]) == 0 {
		return nil
	}
	if v == V38 {
		reason, err := readString(r)
		if err != nil {
			return fmt.Errorf("%w: %w", ErrAuthFailed, err)
		}
		return fmt.Errorf("%w: %q", ErrAuthFailed, reason)
	}
	return ErrAuthFailed
}

// readRefusal reads the reason that follows a refused handshake.
func readRefusal(r io.Reader) error {
	reason, err := readString(r)
	if err != nil {
		return &RefusedError{Reason: "(unreadable: " + err.Error() + ")"}
	}
	return &RefusedError{Reason: reason}
}

// readString reads a length-prefixed string of at most maxReason bytes.
func readString(r io.Reader) (string, error) {
	var b [4]byte
	if _, err := io.ReadFull(r, b[:]); err != nil {
		return "", fmt.Errorf("rfb: read reason length: %w", err)
	}
	n := binary.BigEndian.Uint32(b[:])
	if n > maxReason {
		return "", fmt.Errorf("rfb: reason of %d bytes is too long", n)
	}
	s := make([]byte, n)
	if _, err := io.ReadFull(r, s); err != nil {
		return "", fmt.Errorf("rfb: read reason: %w", err)
	}
	return string(s), nil
}

// Accept performs the server side of the handshake with a viewer, offering
// security type None only, up to and including the security result. It
// returns the version spoken.
func Accept(rw io.ReadWriter) (Version, error) {
	// Announce 3.8 and read what the viewer speaks.
	if _, err := io.WriteString(rw, V38.String()+"\n"); err != nil {
		return Version{}, fmt.Errorf("rfb: write protocol version: %w", err)
	}
	cv, err := ReadVersion(rw)
	if err != nil {
		return Version{}, err
	}
	if V38.less(cv) {
		return Version{}, fmt.Errorf("rfb: viewer answered %s to %s", cv, V38)
	}
	v, err := negotiate(cv)
	if err != nil {
		return Version{}, err
	}

	// Version 3.3: announce None; no result follows.
	if v == V33 {
		var b [4]byte
		binary.BigEndian.PutUint32(b[:], uint32(SecNone))
		if _, err := rw.Write(b[:]); err != nil {
			return Version{}, fmt.Errorf("rfb: write security type: %w", err)
		}
		return v, nil
	}

	// Versions 3.7 and 3.8: offer None alone and read the viewer's pick.
	if _, err := rw.Write([]byte{1, SecNone}); err != nil {
		return Version{}, fmt.Errorf("rfb: write security types: %w", err)
	}
	var pick [1]byte
	if _, err := io.ReadFull(rw, pick[:]); err != nil {
		return Version{}, fmt.Errorf("rfb: read security type: %w", err)
	}
	if pick[0] != SecNone {
		refuse(rw, v, "only security type None is offered")
		return Version{}, fmt.Errorf("%w: viewer picked %d", ErrNoCommonSecurity, pick[0])
	}

	// Version 3.8 confirms None with a security result.
	if v == V38 {
		if _, err := rw.Write([]byte{0, 0, 0, 0}); err != nil {
			return Version{}, fmt.Errorf("rfb: write security result: %w", err)
		}
	}
	return v, nil
}

// refuse tells a viewer that picked an unoffered type why it is refused,
// where the version allows a reason. Write errors are moot: the caller closes.
func refuse(w io.Writer, v Version, reason string) {
	msg := []byte{0, 0, 0, 1}
	if v == V38 {
		msg = binary.BigEndian.AppendUint32(msg, uint32(len(reason)))
		msg = append(msg, reason...)
	}
	_, _ = w.Write(msg)
}

// Bridge runs both handshakes of a relay: first Connect toward the VNC
// server with the password (nil for None), then Accept toward the viewer.
// The server is authenticated before the viewer hears anything, so a viewer
// never sees a half-open session. On success the caller copies bytes.
func Bridge(viewer, server io.ReadWriter, password []byte) error {
	if _, err := Connect(server, password); err != nil {
		return fmt.Errorf("vnc server: %w", err)
	}
	if _, err := Accept(viewer); err != nil {
		return fmt.Errorf("viewer: %w", err)
	}
	return nil
}
