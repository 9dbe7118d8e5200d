package demo

import (
	"bufio"
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"embed"
	"encoding/pem"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"text/template"
	"unicode/utf8"

	"golang.org/x/crypto/ssh"

	"github.com/exchanged/exchanged/config"
	"github.com/exchanged/exchanged/internal/sftpd"
)

//go:embed all:sample demo.yaml.tmpl
var assets embed.FS

// Jobs are the demo's jobs, in the order they run.
var Jobs = []string{"acme-claims-in", "handover-jansen", "acme-payments-out"}

// Env is a prepared demo: servers running, files seeded, config written.
type Env struct {
	Dir        string // everything lives below it
	ConfigPath string
	Config     *config.Config

	servers []*sftpd.Server
}

// Roots returns the directory behind each partner, by partner name.
func (e *Env) Roots() map[string]string {
	return map[string]string{
		"acme-energie": filepath.Join(e.Dir, "acme"),
		"gdw-jansen":   filepath.Join(e.Dir, "jansen"),
		"cases":        filepath.Join(e.Dir, "cases"),
	}
}

// Setup seeds dir with the sample partners' files, starts their SFTP
// servers on 127.0.0.1, and writes a config that pins their host keys.
// logFormat is "json" or "console". Close stops the servers.
func Setup(dir, logFormat string) (_ *Env, err error) {
	env := &Env{Dir: dir}
	defer func() {
		if err != nil {
			env.Close()
		}
	}()
	if err := seed(dir); err != nil {
		return nil, err
	}
	keyPath := filepath.Join(dir, "keys", "exchanged_ed25519")
	signer, err := writeKey(keyPath)
	if err != nil {
		return nil, err
	}
	start := func(root, user string) (*sftpd.Server, error) {
		s, err := sftpd.Start(sftpd.Options{Root: root, User: user, AuthorizedKeys: []ssh.PublicKey{signer.PublicKey()}})
		if err == nil {
			env.servers = append(env.servers, s)
		}
		return s, err
	}
	roots := env.Roots()
	acme, err := start(roots["acme-energie"], "incasso")
	if err != nil {
		return nil, err
	}
	jansen, err := start(roots["gdw-jansen"], "exchange")
	if err != nil {
		return nil, err
	}
	port := func(s *sftpd.Server) string { return s.Addr()[strings.LastIndex(s.Addr(), ":")+1:] }
	vars := map[string]string{
		"State": filepath.Join(dir, "state"), "LogFormat": logFormat, "Key": keyPath, "Cases": roots["cases"],
		"AcmePort": port(acme), "AcmeFP": acme.Fingerprint(),
		"JansenPort": port(jansen), "JansenFP": jansen.Fingerprint(),
	}
	tmpl, err := template.ParseFS(assets, "demo.yaml.tmpl")
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	if err := tmpl.Execute(&buf, vars); err != nil {
		return nil, err
	}
	env.ConfigPath = filepath.Join(dir, "exchanged.yaml")
	if err := os.WriteFile(env.ConfigPath, buf.Bytes(), 0o600); err != nil {
		return nil, err
	}
	if env.Config, err = config.Load(env.ConfigPath); err != nil {
		return nil, fmt.Errorf("demo config: %w", err)
	}
	return env, nil
}

// Close stops the servers.
func (e *Env) Close() {
	for _, s := range e.servers {
		s.Close()
	}
	e.servers = nil
}

// seed copies the embedded sample tree into dir.
func seed(dir string) error {
	return fs.WalkDir(assets, "sample", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		dst := filepath.Join(dir, strings.TrimPrefix(p, "sample"))
		if d.IsDir() {
			return os.MkdirAll(dst, 0o750)
		}
		if d.Name() == ".keep" {
			return nil
		}
		b, err := assets.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(dst, b, 0o640)
	})
}

// writeKey generates the client's ed25519 key and writes it in OpenSSH
// format, 0600.
func writeKey(p string) (ssh.Signer, error) {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	block, err := ssh.MarshalPrivateKey(priv, "exchanged demo")
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		return nil, err
	}
	if err := os.WriteFile(p, pem.EncodeToMemory(block), 0o600); err != nil {
		return nil, err
	}
	return ssh.NewSignerFromKey(priv)
}

// Tree writes what stands in each partner's directory, for the summary.
func (e *Env) Tree(w io.Writer) error {
	roots := e.Roots()
	names := make([]string, 0, len(roots))
	for n := range roots {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %s:\n", n)
		err := filepath.WalkDir(roots[n], func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() || d.Name() == ".keep" {
				return err
			}
			fi, err := d.Info()
			if err != nil {
				return err
			}
			rel, _ := filepath.Rel(roots[n], p)
			fmt.Fprintf(w, "    /%-44s %6d bytes\n", filepath.ToSlash(rel), fi.Size())
			if strings.HasSuffix(p, ".csv") {
				if h := header(p); h != "" {
					fmt.Fprintf(w, "      columns: %s\n", h)
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// header returns the first line of a CSV file: its column names, which
// show what each partner received without showing anyone's data.
func header(p string) string {
	f, err := os.Open(p)
	if err != nil {
		return ""
	}
	defer f.Close()
	line, _ := bufio.NewReader(f).ReadString('\n')
	line = strings.TrimRight(line, "\r\n")
	if !utf8.ValidString(line) {
		return "(not UTF-8: " + strconv.Itoa(len(line)) + " bytes)"
	}
	return line
}
