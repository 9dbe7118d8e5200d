package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/exchanged/exchanged/ledger"
)

const auditUsage = "exchanged audit verify --config FILE [--anchor SEQ:HASH]... [--json]"

// errAudit marks an audit chain that does not verify.
var errAudit = errors.New("audit: the record is not whole")

// AuditCommand checks the ledger's audit chain (exchanged audit verify).
type AuditCommand struct {
	stdout, stderr io.Writer
}

// Run verifies the chain of the config's ledger, opened read-only, so it
// is safe beside a running daemon. It prints the head of the chain (note
// it elsewhere, and pass it back later as --anchor SEQ:HASH: a record
// that no longer holds it means the tail was cut), what it found of each
// anchor, and every place where the record is not whole, and returns an
// error wrapping errAudit if there is one.
func (c *AuditCommand) Run(ctx context.Context, args []string) error {
	if len(args) == 0 || args[0] != "verify" {
		return fmt.Errorf("%w: %s", errUsage, auditUsage)
	}
	fs := flag.NewFlagSet("audit verify", flag.ContinueOnError)
	fs.SetOutput(c.stderr)
	path := fs.String("config", "", "config file")
	asJSON := fs.Bool("json", false, "print the report as JSON")
	var anchors []ledger.Anchor
	fs.Func("anchor", "SEQ:HASH, a head noted from an earlier verify: the record at SEQ must still hold HASH (repeatable)",
		func(s string) error {
			a, err := ledger.ParseAnchor(s)
			if err == nil {
				anchors = append(anchors, a)
			}
			return err
		})
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: %s", errUsage, auditUsage)
	}
	cfg, err := loadConfig(*path)
	if err != nil {
		return err
	}
	l, err := openLedgerReadOnly(cfg)
	if err != nil {
		return err
	}
	defer l.Close()
	r, err := l.VerifyAudit(anchors...)
	if err != nil {
		return err
	}
	if *asJSON {
		if err := json.NewEncoder(c.stdout).Encode(struct {
			OK bool `json:"ok"`
			*ledger.AuditReport
		}{r.OK(), r}); err != nil {
			return err
		}
	} else {
		fmt.Fprintf(c.stdout, "audit: %d record(s) checked, from checkpoint %d to head %d (%s); %d files, %d deliveries and %d outputs' subjects compared\n",
			r.Records, r.FromSeq, r.HeadSeq, r.HeadHash, r.Files, r.Deliveries, r.Outputs)
		fmt.Fprintf(c.stdout, "audit: note the head outside the ledger; check it later with --anchor %d:%s\n", r.HeadSeq, r.HeadHash)
		for _, a := range r.Anchors {
			fmt.Fprintf(c.stdout, "anchor %d: %s\n", a.Seq, a.Status)
		}
		for _, p := range r.Problems {
			fmt.Fprintln(c.stdout, "BROKEN:", p)
		}
		if r.OK() {
			fmt.Fprintln(c.stdout, "audit: the chain is whole")
		}
	}
	if !r.OK() {
		return fmt.Errorf("%w: %d problem(s), the first at %s", errAudit, len(r.Problems), r.Problems[0])
	}
	return nil
}
