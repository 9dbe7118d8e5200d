package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/exchanged/exchanged/ledger"
)

// BreachCommand scopes a data breach (AVG art. 33) at one recipient: what
// the files it received held, as counts and categories only. It prints no
// reference and no value.
type BreachCommand struct {
	stdout, stderr io.Writer
}

// BreachScope is exchanged breach --json's output.
type BreachScope struct {
	Partner    string    `json:"partner"`
	File       string    `json:"file,omitempty"`
	Deliveries int       `json:"deliveries"`
	Subjects   int       `json:"data_subjects"` // distinct pseudonyms over every delivery read
	Records    int       `json:"records"`       // rows delivered, reject reports included
	NotRead    int       `json:"files_not_read"`
	Categories []string  `json:"categories"` // canonical fields the profiles carried
	Creditors  []string  `json:"creditors"`  // creditors whose debtors these are; "unknown" if any is not known
	First      time.Time `json:"first,omitzero"`
	Last       time.Time `json:"last,omitzero"`
	Unknown    bool      `json:"categories_unknown,omitempty"` // a job is no longer in the config, or a file was not read
}

// Run prints the scope of the deliveries to --partner.
func (c *BreachCommand) Run(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("breach", flag.ContinueOnError)
	fs.SetOutput(c.stderr)
	path := fs.String("config", "", "config file")
	partner := fs.String("partner", "", "the partner that received the files")
	file := fs.String("file", "", "only the file delivered (or its source file) under this name")
	since := fs.String("since", "", "only deliveries begun at or after this time (RFC 3339 or a date)")
	until := fs.String("until", "", "only deliveries begun before this time (RFC 3339 or a date)")
	asJSON := fs.Bool("json", false, "print JSON")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *partner == "" || fs.NArg() != 0 {
		return fmt.Errorf("%w: exchanged breach --config FILE --partner P [--file F] [--since T --until T] [--json]", errUsage)
	}
	cfg, err := loadConfig(*path)
	if err != nil {
		return err
	}
	from, err := parseWhen(cfg, "since", *since)
	if err != nil {
		return err
	}
	to, err := parseWhen(cfg, "until", *until)
	if err != nil {
		return err
	}
	l, err := openLedgerReadOnly(cfg)
	if err != nil {
		return err
	}
	defer l.Close()
	ds, subjects, err := l.BreachScope(*partner, *file, from, to)
	if err != nil {
		return err
	}
	s := BreachScope{Partner: *partner, File: *file, Deliveries: len(ds), Subjects: subjects,
		Categories: []string{}, Creditors: []string{}}
	for _, d := range ds {
		if s.First.IsZero() || d.SentAt.Before(s.First) {
			s.First = d.SentAt
		}
		if d.SentAt.After(s.Last) {
			s.Last = d.SentAt
		}
		if d.Unread {
			s.NotRead++
			s.Unknown = true
			continue
		}
		if d.Index < 0 {
			s.Records += d.Rejected
		} else {
			s.Records += d.Rows
		}
		fields, ok := disclosedFields(cfg, d.Job, d.Index)
		s.Unknown = s.Unknown || !ok
		for _, f := range fields {
			if !slices.Contains(s.Categories, f) {
				s.Categories = append(s.Categories, f)
			}
		}
		for c := range d.Creditors {
			s.Creditors = addCreditor(s.Creditors, breachCreditor(c, d, isCreditor(cfg, d.Source)))
		}
		if d.Index < 0 || len(d.Creditors) == 0 && isCreditor(cfg, d.Source) {
			s.Creditors = addCreditor(s.Creditors, d.Source) // a reject report, or rows without a debtor_ref
		}
	}
	slices.Sort(s.Creditors)
	if *asJSON {
		enc := json.NewEncoder(c.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(s)
	}
	w := c.stdout
	fmt.Fprintf(w, "partner:         %s\n", s.Partner)
	if s.File != "" {
		fmt.Fprintf(w, "file:            %s\n", s.File)
	}
	fmt.Fprintf(w, "deliveries:      %d (%d passed unchanged, subjects not read)\n", s.Deliveries, s.NotRead)
	fmt.Fprintf(w, "data subjects:   %d\n", s.Subjects)
	fmt.Fprintf(w, "records:         %d\n", s.Records)
	fmt.Fprintf(w, "categories:      %s\n", orDash(strings.Join(s.Categories, ", ")))
	if s.Unknown {
		fmt.Fprintf(w, "                 (incomplete: a file was passed unchanged, or its job is no longer in the config)\n")
	}
	fmt.Fprintf(w, "creditors:       %s\n", orDash(strings.Join(s.Creditors, ", ")))
	fmt.Fprintf(w, "first:           %s\n", when(s.First, cfg.Location))
	fmt.Fprintf(w, "last:            %s\n", when(s.Last, cfg.Location))
	return nil
}

// breachCreditor names the creditor of subjects recorded under c for
// delivery d: c, or for an unknown one the source partner if that is the
// creditor the pseudonym is keyed on, else "unknown".
func breachCreditor(c string, d ledger.BreachDelivery, sourceIsCreditor bool) string {
	switch {
	case c != "":
		return c
	case sourceIsCreditor:
		return d.Source
	}
	return "unknown (keyed on source " + d.Source + ")"
}

func addCreditor(list []string, c string) []string {
	if slices.Contains(list, c) {
		return list
	}
	return append(list, c)
}
