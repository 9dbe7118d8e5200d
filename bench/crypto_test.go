package bench

import (
	"bufio"
	"bytes"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/ProtonMail/go-crypto/openpgp/packet"

	"github.com/exchanged/exchanged/internal/pgp"
)

var prevBinary = flag.String("prev-binary", "", "BenchmarkCryptoCost: exchanged binaries built before staging was sealed, comma-separated; empty: that variant is left out")

// The keys of BenchmarkCryptoCost's variants, beside keyExchanged (this
// build: staging sealed, no OpenPGP) and keyCeiling.
const (
	keyPrev = "plain-staging"
	keyPGP  = "openpgp"
	keySFTP = "sftp"
)

// BenchmarkCryptoCost measures what encryption costs a user (issue 13):
// the pull and the push of BenchmarkUserPath (-large-mib, 1 GiB), each
// round running, in a rotated order,
//
//	(a) `exchanged once` of this build: staging sealed, no OpenPGP;
//	(b) the same job with each binary of -prev-binary (comma-separated),
//	    builds from before staging was sealed (plaintext staging), each
//	    with a state_dir of its own; left out without the flag;
//	(c) this build with OpenPGP: the push encrypts to the partner's key
//	    and signs with the agency's (destination pgp:); the pull takes a
//	    file encrypted to the agency and signed by the partner (source
//	    pgp: decrypt_with, require_signature_from), made once, untimed;
//	    Curve25519 keys made with go-crypto;
//	(d) `sftp -b` and `ssh … cat`, the reference and the ceiling.
//
// Every run's delivery is checked: size, and the sha256 in the first
// round; the OpenPGP push's file is larger than the input and begins with
// a public-key encrypted session key packet to the partner's key (1 GiB is
// not decrypted). Reported with each case's table: the staging
// encryption's cost, (a) ÷ (b) − 1, and OpenPGP's, (c) ÷ (a) − 1, of the
// median wall and CPU times. Run it with -benchtime 1x.
func BenchmarkCryptoCost(b *testing.B) {
	u, c := newCryptoCost(b, func(u *userPath) []string {
		if *prevBinary == "" {
			return nil
		}
		return strings.Split(*prevBinary, ",")
	})
	size := int64(*largeMiB) * mib
	runCases(b, []benchCase{
		{fmt.Sprintf("pull-%s", sizeName(size)), func(tb testing.TB) []tool { return c.pull(tb, u, size) }},
		{fmt.Sprintf("push-%s", sizeName(size)), func(tb testing.TB) []tool { return c.push(tb, u, size) }},
	}, cryptoCosts)
}

// cryptoCost is what BenchmarkCryptoCost adds to the user path: the
// OpenPGP keys and the config that uses them, and the earlier build.
type cryptoCost struct {
	prevs []prevBuild // none without -prev-binary

	partnerEnc uint64 // the key id of the partner's encryption subkey
	agencyPub  []byte // armored: what the partner's file is encrypted to
	partnerKey []byte // armored private: what signs it
}

// newCryptoCost starts the user path with two more jobs, pull-pgp and
// push-pgp, and for each earlier build that prevBins returns writes its
// config: the same jobs, a state_dir of its own.
func newCryptoCost(tb testing.TB, prevBins func(*userPath) []string) (*userPath, *cryptoCost) {
	tb.Helper()
	u := newUserPath(tb)
	c := &cryptoCost{}
	keys := filepath.Join(u.work, "pgp")
	mkdir(tb, keys)
	agency, partner := newPGPKey(tb, "agency"), newPGPKey(tb, "partner")
	c.agencyPub, c.partnerKey = armored(tb, agency, false), armored(tb, partner, true)
	c.partnerEnc = encryptionKeyID(tb, partner)
	for name, data := range map[string][]byte{
		"agency.asc": armored(tb, agency, true), "agency.pub.asc": c.agencyPub,
		"partner.pub.asc": armored(tb, partner, false),
	} {
		write(tb, filepath.Join(keys, name), string(data))
	}
	for _, d := range []string{"pull-pgp", "push-pgp"} {
		mkdir(tb, filepath.Join(u.s.Root, d))
	}
	key := func(name string) string { return fmt.Sprintf("\"file:%s\"", filepath.Join(keys, name)) }
	write(tb, u.conf, u.config(
		jobSpec{name: "pull-pgp", from: "acme", dir: filepath.Join(u.s.Root, "pull-pgp"), match: "*.csv.pgp", after: "keep",
			srcExtra: fmt.Sprintf(", pgp: {decrypt_with: %s, require_signature_from: %s}", key("agency.asc"), key("partner.pub.asc")),
			to:       "cases", dest: "/inbox"},
		jobSpec{name: "push-pgp", from: "cases", dir: "/outbox-pgp", after: "keep", to: "acme", dest: filepath.Join(u.s.Root, "push-pgp"),
			dstExtra: fmt.Sprintf(", pgp: {encrypt_to: %s, sign_with: %s}", key("partner.pub.asc"), key("agency.asc"))},
	))
	bins := prevBins(u)
	if len(bins) == 0 {
		tb.Logf("bench: no -prev-binary: the plaintext-staging variant is left out")
	}
	for i, bin := range bins {
		prev := *u
		prev.state = filepath.Join(u.work, fmt.Sprintf("state-prev-%d", i+1))
		mkdir(tb, prev.state)
		pb := prevBuild{bin: bin, conf: filepath.Join(u.work, fmt.Sprintf("exchanged-prev-%d.yaml", i+1)),
			name: fmt.Sprintf("(b%d) plaintext staging: %s", i+1, filepath.Base(bin)), key: fmt.Sprintf("%s-%d", keyPrev, i+1)}
		write(tb, pb.conf, prev.config())
		c.prevs = append(c.prevs, pb)
	}
	return u, c
}

// prevBuild is an earlier build of exchanged, with its own config.
type prevBuild struct {
	bin, conf string
	name, key string // in the table, in metric names
}

// variants picks (a) and (d) from the user path's tools of a case and
// adds (b) and (c); (b) runs job with (a)'s prep and check, (c) is given.
func (c *cryptoCost) variants(tools []tool, job string, pgpTool tool) []tool {
	var ours tool
	var ref []tool
	for _, t := range tools {
		switch t.key {
		case keyExchanged:
			ours = t
			ours.name = "(a) exchanged, sealed staging"
		case keySFTP, keyCeiling:
			ref = append(ref, t)
		}
	}
	out := []tool{ours}
	for _, p := range c.prevs {
		out = append(out, tool{name: p.name, key: p.key, prep: ours.prep, check: ours.check,
			run: func(tb testing.TB) peerRun { return onceWith(tb, p.bin, p.conf, job) }})
	}
	return append(append(out, pgpTool), ref...)
}

// pull: (c) pulls the input encrypted to the agency and signed by the
// partner, and delivers its plaintext where (a) does.
func (c *cryptoCost) pull(tb testing.TB, u *userPath, size int64) []tool {
	tb.Helper()
	mkdir(tb, filepath.Join(u.work, "local")) // sftp -b's, gone after a run of small
	tools := u.pull(tb, size)
	src := filepath.Join(u.s.Root, "pull-pgp", "claims_large.csv.pgp")
	c.encryptFile(tb, filepath.Join(u.s.Root, "pull", "claims_large.csv"), src)
	check := tools[0].check // (a)'s: the plaintext in cases/inbox
	return c.variants(tools, "pull", tool{name: "(c) exchanged, sealed staging + OpenPGP", key: keyPGP,
		prep:  func(tb testing.TB, round int) { touch(tb, src, round) },
		run:   func(tb testing.TB) peerRun { return u.once(tb, "pull-pgp") },
		check: check})
}

// push: (c) pushes the input encrypted to the partner and signed by the
// agency, as NAME.pgp, from a dir of its own (two jobs may not take the
// same files), where the input is a hard link.
func (c *cryptoCost) push(tb testing.TB, u *userPath, size int64) []tool {
	tb.Helper()
	tools := u.push(tb, size)
	src := filepath.Join(u.work, "cases", "outbox-pgp", "claims_large.csv")
	mkdir(tb, filepath.Dir(src))
	if err := os.Link(filepath.Join(u.work, "cases", "outbox", "claims_large.csv"), src); err != nil {
		tb.Fatal(err)
	}
	dst := filepath.Join(u.s.Root, "push-pgp")
	return c.variants(tools, "push", tool{name: "(c) exchanged, sealed staging + OpenPGP", key: keyPGP,
		prep: func(tb testing.TB, round int) { touch(tb, src, round) },
		run:  func(tb testing.TB) peerRun { return u.once(tb, "push-pgp") },
		check: func(tb testing.TB, _ int) {
			c.checkEncrypted(tb, dst, "claims_large.csv.pgp", size)
			cleanDirs(tb, filepath.Join(dst, "claims_large.csv.pgp"))
		}})
}

// checkEncrypted fails unless dir holds only name (no temp file left),
// larger than the size bytes of plaintext, its first packet a session key
// encrypted to the partner's encryption key.
func (c *cryptoCost) checkEncrypted(tb testing.TB, dir, name string, size int64) {
	tb.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		tb.Fatal(err)
	}
	if len(ents) != 1 || ents[0].Name() != name {
		var names []string
		for _, e := range ents {
			names = append(names, e.Name())
		}
		tb.Fatalf("%s holds %q, want only %s", dir, names, name)
	}
	f, err := os.Open(filepath.Join(dir, name))
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil || fi.Size() <= size {
		tb.Fatalf("%s: %v, %d bytes, want more than %d", name, err, fi.Size(), size)
	}
	p, err := packet.Read(bufio.NewReader(f))
	if ek, ok := p.(*packet.EncryptedKey); err != nil || !ok || ek.KeyId != c.partnerEnc {
		tb.Fatalf("%s: first packet %T (%v), want a session key encrypted to %016X", name, p, err, c.partnerEnc)
	}
}

// encryptFile encrypts the file in to the agency's key, signed by the
// partner's, into out (binary), as a partner would send it.
func (c *cryptoCost) encryptFile(tb testing.TB, in, out string) {
	tb.Helper()
	to, err := pgp.ReadPublicKey(c.agencyPub)
	if err != nil {
		tb.Fatal(err)
	}
	signer, err := pgp.ReadPrivateKey(c.partnerKey, nil)
	if err != nil {
		tb.Fatal(err)
	}
	r, err := os.Open(in)
	if err != nil {
		tb.Fatal(err)
	}
	defer r.Close()
	f, err := os.Create(out)
	if err != nil {
		tb.Fatal(err)
	}
	bw := bufio.NewWriterSize(f, mib)
	w, err := pgp.Encrypt(bw, to, signer, false, time.Now())
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := io.Copy(w, bufio.NewReaderSize(r, mib)); err != nil {
		tb.Fatal(err)
	}
	if err := w.Close(); err != nil {
		tb.Fatal(err)
	}
	if err := bw.Flush(); err != nil {
		tb.Fatal(err)
	}
	if err := f.Close(); err != nil {
		tb.Fatal(err)
	}
}

// newPGPKey makes an Ed25519 key with a Curve25519 encryption subkey,
// created a minute ago (so that a signature made now is after it).
func newPGPKey(tb testing.TB, name string) *openpgp.Entity {
	tb.Helper()
	created := time.Now().Add(-time.Minute)
	e, err := openpgp.NewEntity(name, "", name+"@example", &packet.Config{
		Algorithm: packet.PubKeyAlgoEdDSA, Time: func() time.Time { return created }})
	if err != nil {
		tb.Fatal(err)
	}
	return e
}

// armored returns e's public key, or with private its private key,
// ASCII-armored.
func armored(tb testing.TB, e *openpgp.Entity, private bool) []byte {
	tb.Helper()
	var buf bytes.Buffer
	typ, ser := openpgp.PublicKeyType, e.Serialize
	if private {
		typ, ser = openpgp.PrivateKeyType, func(w io.Writer) error { return e.SerializePrivate(w, nil) }
	}
	w, err := armor.Encode(&buf, typ, nil)
	if err != nil {
		tb.Fatal(err)
	}
	if err := ser(w); err != nil {
		tb.Fatal(err)
	}
	if err := w.Close(); err != nil {
		tb.Fatal(err)
	}
	return buf.Bytes()
}

// encryptionKeyID returns the key id of e's encryption subkey.
func encryptionKeyID(tb testing.TB, e *openpgp.Entity) uint64 {
	tb.Helper()
	k, ok := e.EncryptionKey(time.Now())
	if !ok {
		tb.Fatal("bench: the generated key has no encryption key")
	}
	return k.PublicKey.KeyId
}

// cryptoCosts returns the lines that read a case's medians: the staging
// encryption's cost, (a) ÷ (b) − 1, and OpenPGP's, (c) ÷ (a) − 1, of the
// wall and the CPU time, in percent, and the same as metrics.
func cryptoCosts(tools []tool, res map[string][]peerRun) (string, []metric) {
	wall := map[string]time.Duration{}
	cpu := map[string]time.Duration{}
	for _, t := range tools {
		wall[t.key] = median(res[t.name], func(r peerRun) time.Duration { return r.wall })
		cpu[t.key] = median(res[t.name], func(r peerRun) time.Duration { return r.cpu })
	}
	var sb strings.Builder
	var ms []metric
	cost := func(label, unit, of, base string) {
		w := 100 * (wall[of].Seconds()/wall[base].Seconds() - 1)
		c := 100 * (cpu[of].Seconds()/cpu[base].Seconds() - 1)
		fmt.Fprintf(&sb, "%s: wall %+.1f%%, CPU %+.1f%% (%s / %s)\n", label, w, c, of, base)
		ms = append(ms, metric{w, unit + "-wall-%"}, metric{c, unit + "-cpu-%"})
	}
	prevs := 0
	for _, t := range tools {
		if strings.HasPrefix(t.key, keyPrev) {
			prevs++
			cost("staging encryption cost", "seal"+strings.TrimPrefix(t.key, keyPrev), keyExchanged, t.key)
		}
	}
	if prevs == 0 {
		sb.WriteString("staging encryption cost: not measured (no -prev-binary)\n")
	}
	cost("OpenPGP cost", "pgp", keyPGP, keyExchanged)
	return sb.String(), ms
}
