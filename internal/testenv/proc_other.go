//go:build !linux

package testenv

import "syscall"

// procAttr puts a component in its own process group. Without Linux's
// parent-death signal, an attached component outlives a test binary that is
// killed outright; Stop and the signal handler of Main still end it.
func procAttr(detach bool) *syscall.SysProcAttr {
	if detach {
		return &syscall.SysProcAttr{Setsid: true}
	}
	return &syscall.SysProcAttr{Setpgid: true}
}
