//go:build !linux

package sshdtest

import "syscall"

func sysProcAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{Setpgid: true} }

// killTree kills sshd's process group. Sessions, which sshd starts in sessions of their own,
// are only found on Linux; elsewhere they outlive Stop.
func killTree(pid int) { _ = syscall.Kill(-pid, syscall.SIGKILL) }
