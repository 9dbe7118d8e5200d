package proftpdtest

import (
	"fmt"
	"strconv"
	"strings"
)

// settings is what one ProFTPD config needs.
type settings struct {
	port         int
	daemonUser   string // User and Group the listener runs as
	daemonGroup  string
	modulePath   string
	hostKeys     []string
	passwdPath   string
	authKeysPath string // RFC 4716 public keys
	pidPath      string
	scoreboard   string
	sftpLog      string
	dropPath     string // on disk: only STOR (upload) is allowed there
	password     bool
}

// config returns proftpd.conf for st. It reads no other file: no /etc/proftpd.
func (st settings) config() string {
	var b strings.Builder
	line := func(k string, v ...string) { fmt.Fprintf(&b, "%s %s\n", k, strings.Join(v, " ")) }
	line("ServerType", "standalone")
	line("ServerName", `"proftpdtest"`)
	line("DefaultAddress", "127.0.0.1")
	line("SocketBindTight", "on")
	line("UseIPv6", "off")
	line("Port", strconv.Itoa(st.port))
	line("User", st.daemonUser)
	line("Group", st.daemonGroup)
	line("PidFile", st.pidPath)
	// In the foreground (-n), ProFTPD logs to stderr.
	line("ScoreboardFile", st.scoreboard)
	line("DelayEngine", "off")
	line("DelayTable", "none")
	line("WtmpLog", "off")
	line("TransferLog", "none")
	line("UseReverseDNS", "off")
	line("MaxInstances", "128")
	line("TimesGMT", "on")
	// A virtual user from our own passwd file, chrooted to its home.
	line("AuthOrder", "mod_auth_file.c")
	line("AuthUserFile", st.passwdPath)
	line("RequireValidShell", "off")
	line("UseFtpUsers", "off")
	line("DefaultRoot", "~")
	line("Umask", "022")
	line("AllowOverwrite", "off")
	line("ModulePath", st.modulePath)
	line("LoadModule", "mod_sftp.c")
	line("SFTPEngine", "on")
	line("SFTPLog", st.sftpLog)
	for _, k := range st.hostKeys {
		line("SFTPHostKey", k)
	}
	if st.password {
		line("SFTPAuthMethods", "publickey", "password")
	} else {
		line("SFTPAuthMethods", "publickey")
	}
	line("SFTPAuthorizedUserKeys", "file:"+st.authKeysPath)
	line("SFTPCompression", "off")
	// The drop folder: every command refused but STOR, which mod_sftp checks for an OPEN
	// for writing and for each WRITE. LSTAT, STAT, FSTAT, OPENDIR, RENAME (RNFR, RNTO),
	// REMOVE (DELE), MKDIR (MKD), SETSTAT and OPEN for reading (RETR) are refused with
	// SSH_FX_PERMISSION_DENIED.
	fmt.Fprintf(&b, "<Directory %s>\n", st.dropPath)
	b.WriteString("  <Limit ALL>\n    DenyAll\n  </Limit>\n")
	b.WriteString("  <Limit STOR>\n    AllowAll\n  </Limit>\n")
	b.WriteString("</Directory>\n")
	return b.String()
}
