//go:build !linux

package peer

import "syscall"

// SysProcAttr puts a daemon in its own process group.
func SysProcAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{Setpgid: true} }

// KillTree kills the daemon's process group. Sessions, which sshd starts in sessions of their own,
// are only found on Linux; elsewhere they outlive Stop.
func KillTree(pid int) { _ = syscall.Kill(-pid, syscall.SIGKILL) }
