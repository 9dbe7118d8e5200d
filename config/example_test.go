package config_test

import (
	"fmt"
	"os"
	"strings"

	"github.com/exchanged/exchanged/config"
)

func ExampleParse() {
	os.Setenv("GDW_JANSEN_PASSWORD", "secret")
	c, err := config.Parse(strings.NewReader(`
version: 1
state_dir: /var/lib/exchanged
partners:
  gdw-jansen:
    role: bailiff
    sftp: {host: sftp.jansen.example, user: exchange, password: env:GDW_JANSEN_PASSWORD, host_key: "SHA256:Wuad6I6hqDpiy6PvDb8acUGiRkfqgeVX6/j6V2huHoI"}
  cases:
    role: internal
    local: {root: /srv/cases}
jobs:
  handover-jansen:
    schedule: "0 6 * * 1-5"
    source: {partner: cases, dir: /outbox/gdw-jansen, match: "*.csv"}
    transform: {layout: claim, profile: bailiff}
    destinations:
      - {partner: gdw-jansen, dir: /in, done_marker: .done}
`))
	if err != nil {
		fmt.Println(err)
		return
	}
	j := c.Jobs["handover-jansen"]
	d := j.Destinations[0]
	p := c.Partner(d.Partner)
	fmt.Println(j.Name, "every", j.Schedule, "in", c.Location)
	fmt.Println("from", j.Source.Partner+":"+j.Source.Dir, "settle", j.Source.Settle, "then", j.Source.After)
	fmt.Println("to", p.SFTP.Address(), "as", p.SFTP.User, "password", p.SFTP.Password, "profile", c.ProfileFor(j, d))
	// Output:
	// handover-jansen every 0 6 * * 1-5 in Europe/Amsterdam
	// from cases:/outbox/gdw-jansen settle 30s then delete
	// to sftp.jansen.example:22 as exchange password env:GDW_JANSEN_PASSWORD profile bailiff
}

func ExampleParse_errors() {
	_, err := config.Parse(strings.NewReader(`
version: 1
state_dir: /var/lib/exchanged
partners:
  acme:
    role: creditor
    sftp: {hots: sftp.acme.example, user: incasso, password: hunter2}
`))
	fmt.Println(err)
	// Output:
	// partners.acme.sftp.hots: unknown key; did you mean host? (line 7)
	// partners.acme.sftp.password: a literal secret is refused; use env:NAME or file:/path (line 7)
}
