package bench

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/exchanged/exchanged/exchange"
	sftpep "github.com/exchanged/exchanged/exchange/endpoint/sftp"
	"github.com/exchanged/exchanged/internal/seal"
)

// BenchmarkLargeFile moves one large file (1 GiB by default) from and to a
// real OpenSSH sshd on loopback, by exchanged's SFTP endpoint and by
// OpenSSH's own sftp client, alternately, and reports both throughputs and
// their ratio. The peers move the same file to and from the same server:
//
//	pull: sftp "get" against Endpoint.Open + io.Copy into a local file;
//	      sftp "get -f" (fsync) against the same into staging (sealed,
//	      sha256, fsync, directory fsync, as a job stages a file);
//	push: sftp "put" and "put -f" (fsync@openssh.com) against the upload a
//	      delivery makes: Create (O_EXCL temp) + io.Copy + Sync + Close + Stat
//	      size check + Rename, from a plain local file and ("sealed") from
//	      the same file staged, sealed, as a delivery reads it.
//
// Each transfer starts from a fresh connection and clean page cache
// write-back. With -benchtime Nx each transfer runs N times and the
// fastest of each is reported, as for BenchmarkSmallFiles. Memory is this process's, measured during exchanged's
// transfers only.
func BenchmarkLargeFile(b *testing.B) {
	s := startServer(b)
	size := int64(*largeMiB) * mib
	dir := b.TempDir() // big files live here and go when the benchmark ends
	remote := filepath.Join(s.Root, "outbox")
	if err := os.MkdirAll(remote, 0o755); err != nil {
		b.Fatal(err)
	}
	srcRemote := filepath.Join(remote, "claims_large.csv")
	writeRandom(b, srcRemote, size, 1)
	_, want := fileSum(b, srcRemote)
	cfg := s.endpoint(b)
	ctx := context.Background()

	b.Run("pull", func(b *testing.B) {
		var peer, peerSync peerRun
		var raw, staged goRun
		for i := 0; i < b.N; i++ {
			local := filepath.Join(dir, "pulled")
			quiesce()
			peer = fastest(peer, s.sftpBatch(b, "get "+srcRemote+" "+local))
			checkFile(b, local, size, "")
			os.Remove(local)

			quiesce()
			peerSync = fastest(peerSync, s.sftpBatch(b, "get -f "+srcRemote+" "+local))
			os.Remove(local)

			quiesce()
			m := measureGo()
			n := pullTo(b, ctx, sftpep.New("bench", cfg, nil, nil), srcRemote, local)
			raw = fastestGo(raw, m.end())
			if n != size {
				b.Fatalf("pulled %d of %d bytes", n, size)
			}
			checkFile(b, local, size, want)
			os.Remove(local)

			quiesce()
			st, err := exchange.OpenStaging(filepath.Join(dir, "staging"), newKey(b))
			if err != nil {
				b.Fatal(err)
			}
			m = measureGo()
			n, sum := pullStaged(b, ctx, sftpep.New("bench", cfg, nil, nil), srcRemote, st)
			staged = fastestGo(staged, m.end())
			if n != size || sum != want {
				b.Fatalf("staged %d of %d bytes, sha256 %s, want %s", n, size, sum, want)
			}
			if err := st.Remove(1, filepath.Base(srcRemote)); err != nil {
				b.Fatal(err)
			}
		}
		report(b, size, "get", peer, raw)
		b.ReportMetric(mbps(size, peerSync.wall), "openssh-get-f-MB/s")
		b.ReportMetric(mbps(size, staged.wall), "exchanged-staged-MB/s")
		b.ReportMetric(peerSync.wall.Seconds()/staged.wall.Seconds(), "staged-x-get-f")
		b.ReportMetric(mibOf(staged.peakRSS), "staged-peak-RSS-MiB")
	})

	b.Run("push", func(b *testing.B) {
		local := filepath.Join(dir, "claims_large.csv")
		writeRandom(b, local, size, 2)
		_, lwant := fileSum(b, local)
		in := filepath.Join(s.Root, "inbox")
		if err := os.MkdirAll(in, 0o755); err != nil {
			b.Fatal(err)
		}
		final := filepath.Join(in, "claims_large.csv")
		// The same file staged, sealed, as a delivery reads it.
		st, err := exchange.OpenStaging(filepath.Join(dir, "staging-push"), newKey(b))
		if err != nil {
			b.Fatal(err)
		}
		stageLocal(b, st, local)
		defer st.Remove(1, "claims_large.csv")
		var peer, peerSync peerRun
		var ours, sealed goRun
		for i := 0; i < b.N; i++ {
			quiesce()
			m := measureGo()
			sf, err := st.Open(1, "claims_large.csv")
			if err != nil {
				b.Fatal(err)
			}
			pushFrom(b, ctx, sftpep.New("bench", cfg, nil, nil), sf, sf.Size(), in, "claims_large.csv")
			sf.Close()
			sealed = fastestGo(sealed, m.end())
			checkFile(b, final, size, lwant)
			os.Remove(final)

			quiesce()
			peer = fastest(peer, s.sftpBatch(b, "put "+local+" "+final))
			checkFile(b, final, size, "")
			os.Remove(final)

			quiesce()
			peerSync = fastest(peerSync, s.sftpBatch(b, "put -f "+local+" "+final))
			os.Remove(final)

			quiesce()
			m = measureGo()
			pushFile(b, ctx, sftpep.New("bench", cfg, nil, nil), local, in, "claims_large.csv")
			ours = fastestGo(ours, m.end())
			checkFile(b, final, size, lwant)
			os.Remove(final)
		}
		report(b, size, "put", peer, ours)
		b.ReportMetric(mbps(size, peerSync.wall), "openssh-put-f-MB/s")
		b.ReportMetric(peerSync.wall.Seconds()/ours.wall.Seconds(), "x-put-f")
		b.ReportMetric(mbps(size, sealed.wall), "exchanged-sealed-MB/s")
		b.ReportMetric(sealed.wall.Seconds()/ours.wall.Seconds(), "sealed-x-plain")
		b.ReportMetric(sealed.cpu.Seconds(), "exchanged-sealed-cpu-s")
	})
}

// report states one direction's figures: throughputs, the ratio (above 1:
// exchanged is faster), CPU and memory, as metrics and as a log line.
func report(b *testing.B, size int64, verb string, peer peerRun, ours goRun) {
	b.ReportMetric(mbps(size, ours.wall), "exchanged-MB/s")
	b.ReportMetric(mbps(size, peer.wall), "openssh-"+verb+"-MB/s")
	b.ReportMetric(peer.wall.Seconds()/ours.wall.Seconds(), "x-"+verb)
	b.ReportMetric(ours.cpu.Seconds(), "exchanged-cpu-s")
	b.ReportMetric(peer.cpu.Seconds(), "openssh-cpu-s")
	b.ReportMetric(mibOf(ours.peakRSS), "peak-RSS-MiB")
	b.ReportMetric(float64(ours.peakHeap)/mib, "peak-heap-MiB")
	b.ReportMetric(mibOf(peer.maxRSS), "openssh-maxRSS-MiB")
	b.Logf("%s %d MiB: exchanged %s (%.0f MB/s, cpu %s, peak RSS %.1f MiB%s, heap in use %.1f MiB, heap sys %.1f MiB); "+
		"OpenSSH sftp %s (%.0f MB/s, cpu %s, max RSS %.1f MiB); ratio %.2fx",
		verb, size/mib, fmtDur(ours.wall), mbps(size, ours.wall), fmtDur(ours.cpu), mibOf(ours.peakRSS),
		map[bool]string{true: "", false: " (whole process: clear_refs refused)"}[ours.hwmReset],
		float64(ours.peakHeap)/mib, float64(ours.heapSys)/mib,
		fmtDur(peer.wall), mbps(size, peer.wall), fmtDur(peer.cpu), mibOf(peer.maxRSS), peer.wall.Seconds()/ours.wall.Seconds())
}

// pullTo copies a remote file into a local one the way a job reads its
// source: Endpoint.Open, then io.Copy.
func pullTo(tb testing.TB, ctx context.Context, ep *sftpep.SFTP, remote, local string) int64 {
	tb.Helper()
	defer ep.Close()
	r, err := ep.Open(ctx, remote)
	if err != nil {
		tb.Fatal(err)
	}
	defer r.Close()
	f, err := os.Create(local)
	if err != nil {
		tb.Fatal(err)
	}
	n, err := io.Copy(f, r)
	if err != nil {
		tb.Fatal(err)
	}
	if err := f.Close(); err != nil {
		tb.Fatal(err)
	}
	return n
}

// pullStaged copies a remote file into staging as a job does: sha256 on
// the way, fsync, rename, directory fsync.
func pullStaged(tb testing.TB, ctx context.Context, ep *sftpep.SFTP, remote string, st *exchange.Staging) (int64, string) {
	tb.Helper()
	defer ep.Close()
	r, err := ep.Open(ctx, remote)
	if err != nil {
		tb.Fatal(err)
	}
	defer r.Close()
	w, err := st.Receive(1, filepath.Base(remote)) // as a job stages a source file
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := io.Copy(w, r); err != nil {
		w.Abort()
		tb.Fatal(err)
	}
	n, sum, err := w.Commit()
	if err != nil {
		tb.Fatal(err)
	}
	return n, sum
}

// pushFile uploads a local file the way a delivery does: an exclusive temp
// name, io.Copy from the staged *os.File, Sync, Close, a size check on the
// server, then the rename to the final name.
func pushFile(tb testing.TB, ctx context.Context, ep *sftpep.SFTP, local, dir, name string) {
	tb.Helper()
	f, err := os.Open(local)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		tb.Fatal(err)
	}
	pushFrom(tb, ctx, ep, f, st.Size(), dir, name)
}

// stageLocal stages the local file as file 1 of st, sealed, as a job
// stages a source file.
func stageLocal(tb testing.TB, st *exchange.Staging, local string) {
	tb.Helper()
	f, err := os.Open(local)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	w, err := st.Receive(1, filepath.Base(local))
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := io.Copy(w, f); err != nil {
		w.Abort()
		tb.Fatal(err)
	}
	if _, _, err := w.Commit(); err != nil {
		tb.Fatal(err)
	}
}

// newKey returns a new staging key.
func newKey(tb testing.TB) *seal.Key {
	tb.Helper()
	k, err := seal.NewKey()
	if err != nil {
		tb.Fatal(err)
	}
	return k
}

// pushFrom uploads size bytes read from f as pushFile does.
func pushFrom(tb testing.TB, ctx context.Context, ep *sftpep.SFTP, f io.Reader, size int64, dir, name string) {
	tb.Helper()
	defer ep.Close()
	tmp, final := filepath.Join(dir, "."+name+".bench.part"), filepath.Join(dir, name)
	w, err := ep.Create(ctx, tmp)
	if err != nil {
		tb.Fatal(err)
	}
	n, err := io.Copy(w, f)
	if err == nil {
		err = w.Sync()
	}
	if cerr := w.Close(); err == nil {
		err = cerr
	}
	if err != nil || n != size {
		ep.Remove(ctx, tmp)
		tb.Fatalf("upload: %d of %d bytes: %v", n, size, err)
	}
	fi, err := ep.Stat(ctx, tmp)
	if err != nil || fi.Size != size {
		tb.Fatalf("upload: server has %d of %d bytes: %v", fi.Size, size, err)
	}
	if err := ep.Rename(ctx, tmp, final); err != nil {
		tb.Fatal(err)
	}
}

// checkFile fails unless path holds size bytes and, if want is set, that
// sha256.
func checkFile(tb testing.TB, path string, size int64, want string) {
	tb.Helper()
	if want == "" {
		fi, err := os.Stat(path)
		if err != nil || fi.Size() != size {
			tb.Fatalf("%s: %v, want %d bytes", path, err, size)
		}
		return
	}
	n, sum := fileSum(tb, path)
	if n != size || sum != want {
		tb.Fatalf("%s: %d bytes sha256 %s, want %d bytes %s", path, n, sum, size, want)
	}
}
