package bench

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/exchanged/exchanged/config"
	sftpep "github.com/exchanged/exchanged/exchange/endpoint/sftp"
)

// TestSmoke runs every part of the harness once on tiny sizes, so that
// `go test ./...` keeps the benchmarks working; it times nothing.
func TestSmoke(t *testing.T) {
	s := startServer(t)
	cfg := s.endpoint(t)
	ctx := context.Background()
	dir := t.TempDir()

	remote := filepath.Join(s.Root, "big")
	writeRandom(t, remote, 3*mib+5, 1)
	_, want := fileSum(t, remote)
	s.sftpBatch(t, "get "+remote+" "+filepath.Join(dir, "peer"))
	checkFile(t, filepath.Join(dir, "peer"), 3*mib+5, want)
	if n := pullTo(t, ctx, sftpep.New("bench", cfg, nil, nil), remote, filepath.Join(dir, "ours")); n != 3*mib+5 {
		t.Fatalf("pulled %d bytes", n)
	}
	mkdir(t, filepath.Join(s.Root, "in"))
	pushFile(t, ctx, sftpep.New("bench", cfg, nil, nil), filepath.Join(dir, "ours"), filepath.Join(s.Root, "in"), "big")
	checkFile(t, filepath.Join(s.Root, "in", "big"), 3*mib+5, want)

	src, dst := filepath.Join(s.Root, "outbox"), filepath.Join(s.Root, "inbox")
	makeSmall(t, src, 20, 2048)
	mkdir(t, dst)
	_, res, _ := runJob(t, cfg, filepath.Join(dir, "state"), src, dst, 0)
	if res.Files != 20 || res.Delivered != 20 {
		t.Fatalf("run = %+v", res)
	}
	checkTree(t, dst, 20, 2048)

	conf := writeIdleConfig(t, dir, 3)
	c, err := config.Load(conf)
	if err != nil || len(c.Jobs) != 3 {
		t.Fatalf("idle config: %d jobs, %v", len(c.Jobs), err)
	}
	if clockTick() <= 0 || procCPUTicks(t, "self") < 0 || procStatusBytes("self", "VmRSS") <= 0 {
		t.Fatal("cannot read the clock tick or /proc/self")
	}
}

// TestUserPathSmoke runs one round of BenchmarkUserPath's cases on small
// sizes (4 MiB, 50 files): the binary, sftp -b, rclone and ssh against a
// real sshd, each run's delivery checked; then one round of
// BenchmarkCryptoCost's, this build standing in for the earlier one. It
// times nothing.
func TestUserPathSmoke(t *testing.T) {
	u, c := newCryptoCost(t, func(u *userPath) []string { return []string{u.bin} })
	cases := [][]tool{u.pull(t, 4*mib), u.push(t, 4*mib), u.small(t, 50, 2048)}
	for i, tools := range cases {
		res := map[string][]peerRun{}
		interleave(t, 1, tools, res)
		table, metrics := summarize(tools, res)
		t.Logf("case %d:\n%s", i, table)
		if u.rclone != "" && !strings.Contains(table, "rclone") || !strings.Contains(table, "exchanged once") {
			t.Fatalf("table lacks a tool:\n%s", table)
		}
		for _, m := range metrics {
			if m.value <= 0 {
				t.Fatalf("metric %s = %v", m.unit, m.value)
			}
		}
	}
	for _, tools := range [][]tool{c.pull(t, u, 4*mib), c.push(t, u, 4*mib)} {
		res := map[string][]peerRun{}
		interleave(t, 1, tools, res)
		table, _ := summarize(tools, res)
		costs, metrics := cryptoCosts(tools, res)
		t.Logf("crypto:\n%s%s", table, costs)
		if len(tools) != 5 || len(metrics) != 4 {
			t.Fatalf("%d tools, %d cost metrics, want 5 and 4:\n%s%s", len(tools), len(metrics), table, costs)
		}
	}
}
