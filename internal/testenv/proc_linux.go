package testenv

import "syscall"

// procAttr puts a component in its own process group. An attached one gets
// SIGKILL when its parent dies, so a killed test binary leaves nothing
// behind; a detached one leads its own session instead.
func procAttr(detach bool) *syscall.SysProcAttr {
	if detach {
		return &syscall.SysProcAttr{Setsid: true}
	}
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
