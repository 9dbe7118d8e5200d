package peer

import (
	"os"
	"strconv"
	"strings"
	"syscall"
)

// maxKillPasses bounds the scans for sessions forked while Stop is stopping them.
const maxKillPasses = 5

// SysProcAttr puts a daemon in its own process group, killed if the test binary dies first.
func SysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}

// KillTree kills a daemon (pid) and every live descendant. sshd starts each connection in a new
// session (ProFTPD forks one per connection too), so the process group does not reach them; they are found through /proc. All are
// stopped first, so that none forks a child that escapes the scan, then killed.
func KillTree(pid int) {
	_ = syscall.Kill(pid, syscall.SIGSTOP)
	stopped := map[int]bool{}
	for range maxKillPasses {
		found := false
		for _, d := range descendants(pid) {
			if !stopped[d] {
				_ = syscall.Kill(d, syscall.SIGSTOP)
				stopped[d] = true
				found = true
			}
		}
		if !found {
			break
		}
	}
	for d := range stopped {
		_ = syscall.Kill(d, syscall.SIGKILL)
	}
	_ = syscall.Kill(-pid, syscall.SIGKILL) // the process group
	_ = syscall.Kill(pid, syscall.SIGKILL)
}

// descendants returns the live (not zombie) descendants of pid.
func descendants(pid int) []int {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	children := map[int][]int{}
	for _, e := range entries {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...; comm may hold spaces and parentheses.
		s := string(b)
		i := strings.LastIndexByte(s, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(s[i+1:])
		if len(f) < 2 || f[0] == "Z" || f[0] == "X" {
			continue
		}
		ppid, err := strconv.Atoi(f[1])
		if err != nil {
			continue
		}
		children[ppid] = append(children[ppid], p)
	}
	var out []int
	queue := []int{pid}
	for len(queue) > 0 && len(out) < len(entries) {
		p := queue[0]
		queue = queue[1:]
		out = append(out, children[p]...)
		queue = append(queue, children[p]...)
	}
	return out
}
