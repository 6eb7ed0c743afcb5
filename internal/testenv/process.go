package testenv

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// component is one control-plane process, led by its own process group.
type component struct {
	Name string `json:"name"`
	PID  int    `json:"pid"`
	// StartTicks is the process's start time in clock ticks since boot, so
	// that a recycled PID is never taken for the recorded process.
	StartTicks uint64 `json:"startTicks"`
	Log        string `json:"log"`

	// Set only in the process that started it.
	done chan struct{}
}

// spawn starts bin with args, its output appended to logPath. A detached
// process leads a new session and outlives its parent; an attached one is
// killed when the parent dies.
func spawn(name, bin string, args []string, logPath string, detach bool) (*component, error) {
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	defer logFile.Close()

	cmd := exec.Command(bin, args...)
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	cmd.SysProcAttr = procAttr(detach)

	// The parent-death signal fires when the thread that forked the child
	// ends, so attached children are forked from one thread that never does.
	if detach {
		err = cmd.Start()
	} else {
		onSpawnThread(func() { err = cmd.Start() })
	}
	if err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}

	c := &component{Name: name, PID: cmd.Process.Pid, Log: logPath}
	c.StartTicks, _, _ = procStat(c.PID)
	if detach {
		// Reap it if it ends while this process lives; after that, the init
		// process does. Liveness is read from /proc either way.
		go func() { _ = cmd.Wait() }()
		return c, nil
	}
	c.done = make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(c.done)
	}()
	return c, nil
}

var (
	spawnOnce   sync.Once
	spawnThread chan func()
)

// onSpawnThread runs f on a locked OS thread that lives as long as the
// process.
func onSpawnThread(f func()) {
	spawnOnce.Do(func() {
		spawnThread = make(chan func())
		go func() {
			runtime.LockOSThread()
			for f := range spawnThread {
				f()
			}
		}()
	})
	done := make(chan struct{})
	spawnThread <- func() { f(); close(done) }
	<-done
}

// alive reports whether the recorded process still runs. A zombie or a
// process with another start time counts as gone.
func (c *component) alive() bool {
	if c.done != nil {
		select {
		case <-c.done:
			return false
		default:
			return true
		}
	}
	ticks, state, err := procStat(c.PID)
	if err != nil || state == 'Z' || state == 'X' {
		return false
	}
	return c.StartTicks == 0 || ticks == c.StartTicks
}

// groupAlive reports whether any live process is left in the component's
// process group. Zombies do not count: they run nothing.
func (c *component) groupAlive() bool {
	if c.alive() {
		return true
	}
	return !c.recycled() && len(groupMembers(c.PID)) > 0
}

// recycled reports whether the recorded PID now belongs to another process.
// While any process of the group lives, the kernel hands out neither its
// leader's PID nor its group ID, so a group found without that is ours.
func (c *component) recycled() bool {
	ticks, _, err := procStat(c.PID)
	return err == nil && c.StartTicks != 0 && ticks != c.StartTicks
}

// groupMembers lists the live processes whose process group is pgid.
func groupMembers(pgid int) []int {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		data, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		i := bytes.LastIndexByte(data, ')')
		if i < 0 {
			continue
		}
		// After the name: state, ppid, pgrp.
		fields := strings.Fields(string(data[i+1:]))
		if len(fields) < 3 || fields[0] == "Z" || fields[0] == "X" {
			continue
		}
		if fields[2] == strconv.Itoa(pgid) {
			pids = append(pids, pid)
		}
	}
	return pids
}

// signal sends sig to the component's whole process group, unless its
// leader's PID was recycled.
func (c *component) signal(sig syscall.Signal) {
	if !c.groupAlive() {
		return
	}
	_ = syscall.Kill(-c.PID, sig)
}

// stopComponents ends every component: SIGTERM to each process group, then
// SIGKILL to what is left after grace. It returns once all are gone.
func stopComponents(comps []*component, grace time.Duration) error {
	for i := len(comps) - 1; i >= 0; i-- {
		comps[i].signal(syscall.SIGTERM)
	}
	if waitGone(comps, grace) {
		return nil
	}
	for _, c := range comps {
		c.signal(syscall.SIGKILL)
	}
	if waitGone(comps, 10*time.Second) {
		return nil
	}
	var left []string
	for _, c := range comps {
		if c.groupAlive() {
			left = append(left, fmt.Sprintf("%s (pid %d)", c.Name, c.PID))
		}
	}
	return fmt.Errorf("processes still running after SIGKILL: %s", strings.Join(left, ", "))
}

// waitGone polls until no component's process group has a process left.
func waitGone(comps []*component, timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	for {
		gone := true
		for _, c := range comps {
			if c.groupAlive() {
				gone = false
				break
			}
		}
		if gone {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// procStat returns a process's start time in clock ticks and its state
// letter, read from /proc.
func procStat(pid int) (uint64, byte, error) {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, 0, err
	}

	// The command name is in parentheses and may hold spaces.
	i := bytes.LastIndexByte(data, ')')
	if i < 0 {
		return 0, 0, fmt.Errorf("malformed stat for pid %d", pid)
	}
	fields := strings.Fields(string(data[i+1:]))
	// fields[0] is the state (field 3); the start time is field 22.
	if len(fields) < 20 {
		return 0, 0, fmt.Errorf("malformed stat for pid %d", pid)
	}
	ticks, err := strconv.ParseUint(fields[19], 10, 64)
	if err != nil {
		return 0, 0, err
	}
	return ticks, fields[0][0], nil
}

// logTail returns the last lines of a component's log, for error messages.
func logTail(path string, lines int) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	all := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(all) > lines {
		all = all[len(all)-lines:]
	}
	return strings.Join(all, "\n")
}
