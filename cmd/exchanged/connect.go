package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"path"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/exchanged/exchanged/config"
	"github.com/exchanged/exchanged/exchange/endpoint"
	"github.com/exchanged/exchanged/exchange/endpoint/local"
	"github.com/exchanged/exchanged/exchange/endpoint/sftp"
)

// probePrefix starts the name of the empty file "config validate
// --connect" creates in a destination to learn that it may write there.
// Hidden, so that a partner's import that matches "*.csv" never takes it.
const probePrefix = ".exchanged-probe-"

// errChecksFailed: a --connect check failed. The file itself is valid, so
// this is exit 1 (a run would fail), not exit 2 (a bad config).
var errChecksFailed = errors.New("config validate --connect")

// dirCheck is one directory of a job, and what a run will do there.
type dirCheck struct {
	job, role string // "acme-in", "source" / "source.after" / "destinations[0]" / "rejects"
	partner   string
	dir       string

	stat   bool // the dir is looked up (every mode but a write-only drop folder)
	list   bool // a source: its files are listed
	write  bool // a destination: a probe file is created...
	rename bool // ...renamed, as a delivery renames its temp file...
	remove bool // ...and removed; a refused remove fails the check
	// With write and not remove, a remove is still tried, and a refusal
	// reported in the line without failing it: a drop folder may refuse
	// it, and then holds an empty hidden probe file.

	res string // "ok (...)", "FAIL: ...", "skipped: ..."
}

// connectChecks lists the checks of every job's directories, in the order
// they are printed.
func connectChecks(cfg *config.Config) []*dirCheck {
	var cs []*dirCheck
	for _, name := range slices.Sorted(maps.Keys(cfg.Jobs)) {
		j := cfg.Jobs[name]
		s := j.Source
		cs = append(cs, &dirCheck{job: name, role: "source", partner: s.Partner, dir: s.Dir, stat: true, list: true})
		if mv := s.MoveDir(); mv != "" {
			cs = append(cs, &dirCheck{job: name, role: "source.after", partner: s.Partner, dir: mv, stat: true})
		}
		for i, d := range j.Destinations {
			cs = append(cs, deliveryCheck(name, fmt.Sprintf("destinations[%d]", i), d))
		}
		if j.Rejects != nil {
			cs = append(cs, deliveryCheck(name, "rejects", j.Rejects))
		}
	}
	return cs
}

// deliveryCheck is the check of a directory a job delivers to: the
// permissions its delivery mode needs.
func deliveryCheck(job, role string, d *config.Destination) *dirCheck {
	c := &dirCheck{job: job, role: role, partner: d.Partner, dir: d.Dir, stat: true, write: true, rename: true, remove: true}
	// A write-only drop folder (upload: direct) allows no stat, no list, no
	// rename, and maybe no remove: the probe is created, and its removal
	// tried.
	if d.UploadMode() == config.UploadDirect {
		c.stat, c.rename, c.remove = false, false, false
	}
	return c
}

// connect dials every partner and checks every job's directories, moving
// nothing, and prints one line per partner and per directory. It returns
// errChecksFailed, wrapped with the count, if any check failed.
func connect(ctx context.Context, cfg *config.Config, w io.Writer) error {
	partners := slices.Sorted(maps.Keys(cfg.Partners))
	checks := connectChecks(cfg)
	results := make(map[string]string, len(partners))
	var (
		mu sync.Mutex
		wg sync.WaitGroup
	)
	for _, name := range partners {
		var mine []*dirCheck
		for _, c := range checks {
			if c.partner == name {
				mine = append(mine, c)
			}
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			res := checkPartner(ctx, name, cfg.Partners[name], mine)
			mu.Lock()
			results[name] = res
			mu.Unlock()
		}()
	}
	wg.Wait()

	failed := 0
	count := func(res string) string {
		if !isOK(res) {
			failed++
		}
		return res
	}
	for _, name := range partners {
		fmt.Fprintf(w, "partner %s: %s\n", name, count(results[name]))
	}
	for _, c := range checks {
		fmt.Fprintf(w, "job %s %s %s:%s: %s\n", c.job, c.role, c.partner, c.dir, count(c.res))
	}
	if failed > 0 {
		return fmt.Errorf("%w: %d of %d check(s) failed", errChecksFailed, failed, len(partners)+len(checks))
	}
	fmt.Fprintf(w, "connect: ok: %d partner(s), %d directory check(s)\n", len(partners), len(checks))
	return nil
}

func isOK(res string) bool { return len(res) >= 2 && res[:2] == "ok" }

// checkPartner dials one partner and runs its directory checks on that one
// connection. It returns the partner's line; each check gets its own.
func checkPartner(ctx context.Context, name string, p *config.Partner, checks []*dirCheck) string {
	var (
		ep      endpoint.Endpoint
		timeout = config.DefaultTimeout
		what    string
	)
	switch {
	case p.SFTP != nil:
		ep = sftp.New(name, *p.SFTP, nil, nil)
		timeout = p.SFTP.Timeout.D()
		what = fmt.Sprintf("%s: host key verified, logged in as %s", ep, p.SFTP.User)
	default:
		ep = local.New(p.Local.Root)
		what = ep.String()
	}
	defer ep.Close()
	// The SFTP calls after the dial take no context: a server that stops
	// answering is cut off by closing the connection.
	ctx, cancel := context.WithTimeout(ctx, timeout*time.Duration(2+len(checks)))
	defer cancel()
	stop := context.AfterFunc(ctx, func() { ep.Close() })
	defer stop()

	if err := ep.Connect(ctx); err != nil {
		for _, c := range checks {
			c.res = "skipped: partner " + name + " failed"
		}
		return "FAIL: " + err.Error()
	}
	for _, c := range checks {
		c.res = c.run(ctx, ep)
	}
	return "ok (" + what + ")"
}

// run checks one directory and returns its result.
func (c *dirCheck) run(ctx context.Context, ep endpoint.Endpoint) string {
	var done []string
	if c.stat {
		fi, err := ep.Stat(ctx, c.dir)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			return "FAIL: no such directory"
		case err != nil:
			return "FAIL: " + err.Error()
		case !fi.Mode.IsDir():
			return "FAIL: not a directory"
		}
		done = append(done, "present")
	}
	if c.list {
		ents, err := ep.List(ctx, c.dir)
		if err != nil {
			return "FAIL: cannot list: " + err.Error()
		}
		done = append(done, fmt.Sprintf("listed, %d entries", len(ents)))
	}
	if c.write {
		msg, err := c.probe(ctx, ep)
		if err != nil {
			return "FAIL: " + err.Error()
		}
		done = append(done, msg)
	}
	return "ok (" + strings.Join(done, ", ") + ")"
}

// probe creates an empty hidden file in the directory (O_EXCL, under a
// random name), renames it when the delivery mode renames, and removes it.
func (c *dirCheck) probe(ctx context.Context, ep endpoint.Endpoint) (string, error) {
	var rnd [8]byte
	_, _ = rand.Read(rnd[:])
	name := path.Join(c.dir, probePrefix+hex.EncodeToString(rnd[:]))
	f, err := ep.Create(ctx, name)
	if err != nil {
		return "", fmt.Errorf("not writable: %w", err)
	}
	if err := f.Close(); err != nil {
		_ = ep.Remove(ctx, name)
		return "", fmt.Errorf("not writable: close %s: %w", name, err)
	}
	did := "probe file created"
	if c.rename {
		to := name + ".renamed"
		if err := ep.Rename(ctx, name, to); err != nil {
			if rerr := ep.Remove(ctx, name); rerr != nil {
				return "", fmt.Errorf("rename refused: %w; and the probe file %s could not be removed: %v", err, name, rerr)
			}
			return "", fmt.Errorf("rename refused: %w", err)
		}
		name, did = to, did+", renamed"
	}
	if err := ep.Remove(ctx, name); err != nil {
		if c.remove {
			return "", fmt.Errorf("remove refused, the probe file %s is left there: %w", name, err)
		}
		return did + "; remove refused, the empty probe file " + name + " is left there", nil
	}
	return did + " and removed", nil
}
