package config

import (
	"crypto/ed25519"
	"crypto/rand"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"
)

func TestParseHostKey(t *testing.T) {
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	key, err := ssh.NewPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	fp := ssh.FingerprintSHA256(key)
	line := strings.TrimSpace(string(ssh.MarshalAuthorizedKey(key)))
	for _, tc := range []struct {
		in   string
		want HostKeyPin
	}{
		{fp, HostKeyPin{Fingerprint: fp}},
		{"ssh-ed25519 " + fp, HostKeyPin{Type: ssh.KeyAlgoED25519, Fingerprint: fp}},
		{"  ecdsa-sha2-nistp256\t" + fp + " ", HostKeyPin{Type: ssh.KeyAlgoECDSA256, Fingerprint: fp}},
		{"ssh-rsa " + fp, HostKeyPin{Type: ssh.KeyAlgoRSA, Fingerprint: fp}},
		{line, HostKeyPin{Type: ssh.KeyAlgoED25519, Fingerprint: fp}},
		{line + " root@sftp.partner.example", HostKeyPin{Type: ssh.KeyAlgoED25519, Fingerprint: fp}},
	} {
		got, err := ParseHostKey(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("ParseHostKey(%q) = %+v, %v; want %+v", tc.in, got, err, tc.want)
		}
	}
	body := strings.Fields(line)[1]
	for _, bad := range []string{
		"", "   ", "SHA256:AAAA", "MD5:16:27:ac:a5:76:28:2d:36:63:1b:56:4d:eb:df:a6:48",
		"ssh-ed25519", "ssh-ed25519 SHA256:AAAA", "ssh-ed25519 " + fp + " extra",
		"ssh-dss " + fp, "rsa " + fp, // unknown types
		"ssh-rsa " + body,           // the key is no RSA key
		"ssh-ed25519 " + body[:20],  // truncated
		"[sftp.example]:22 " + line, // a known_hosts line: use known_hosts
	} {
		if _, err := ParseHostKey(bad); err == nil {
			t.Errorf("ParseHostKey(%q) accepted", bad)
		} else if len(bad) > 30 && strings.Contains(err.Error(), bad[len(bad)-20:]) {
			t.Errorf("ParseHostKey(%q): error %q echoes the value", bad, err)
		}
	}
}
