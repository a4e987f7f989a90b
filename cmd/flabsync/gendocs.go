package main

// The two reference pages that must not drift from the code are written by
// the code: `make docs` runs the hidden command `flabsync gendocs`, which
// asks every command for its flag set (by running it with -h and keeping
// the flag sets it makes) and hands them to internal/refdoc, which also
// reads the config struct, its defaults and the commented example.
// TestGeneratedDocsUpToDate fails when the committed pages differ from
// what this writes.

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/flabsync/flabsync/internal/refdoc"
	"github.com/flabsync/flabsync/schedules"
)

// gendocsCommand is the hidden command behind `make docs`.
const gendocsCommand = "gendocs"

func runGendocs(_ context.Context, m *Main, args []string) error {
	fs := flag.NewFlagSet(gendocsCommand, flag.ContinueOnError)
	fs.SetOutput(m.Stderr)
	dir := fs.String("dir", "docs", "folder the pages are written to")
	if err := parse(fs, args); err != nil {
		return err
	}
	pages, err := generateDocs()
	if err != nil {
		return err
	}
	for _, name := range sortedKeys(pages) {
		p := filepath.Join(*dir, name)
		if err := os.WriteFile(p, pages[name], 0o644); err != nil {
			return fmt.Errorf("gendocs: %w", err)
		}
		fmt.Fprintln(m.Stdout, "wrote", p)
	}
	return nil
}

// generateDocs returns the generated pages by file name.
func generateDocs() (map[string][]byte, error) {
	cmds, err := commandsMarkdown()
	if err != nil {
		return nil, fmt.Errorf("gendocs: %s: %w", refdoc.CommandsPage, err)
	}
	keys, err := refdoc.ConfigKeysMarkdown(schedules.Default())
	if err != nil {
		return nil, fmt.Errorf("gendocs: %s: %w", refdoc.ConfigKeysPage, err)
	}
	return map[string][]byte{refdoc.CommandsPage: cmds, refdoc.ConfigKeysPage: keys}, nil
}

// commandsMarkdown writes the command reference from every command's
// own flag set.
func commandsMarkdown() ([]byte, error) {
	host, _ := os.Hostname()
	ref := refdoc.Commands{ExitOK: ExitOK, ExitPartial: ExitPartial, ExitUsage: ExitUsage,
		MachineDefaults: []refdoc.MachineDefault{
			{Value: host, Says: "this machine's host name"},
			{Value: schedules.Holder(), Says: "the OS user @ host name"},
		}}
	for _, c := range docCommands() {
		rc := refdoc.Command{Words: c.words, Summary: c.summary}
		if c.words[0] == "help" {
			rc.Markdown = "```\nflabsync help [COMMAND]\n```\n\n" +
				"Lists the commands, or prints one command's usage (the same as `flabsync COMMAND -h`).\n\n"
		} else {
			made, printed := usageOf(c)
			rc.Printed = printed
			if made != nil {
				rc.Flags, rc.Synopsis, rc.Description = made.fs, made.synopsis, made.description
			}
		}
		ref.Commands = append(ref.Commands, rc)
	}
	return refdoc.CommandsMarkdown(ref)
}

// docSubcommands are the subcommands of commands that dispatch on their
// first argument by hand (mapping's are listed in mappingCommands). Each
// entry is the words typed; exceptions' subcommands share one flag set,
// read through "exceptions list -h".
var docSubcommands = map[string][][]string{
	"config":   {{"example"}, {"check"}},
	"webhooks": {{"subscribe"}, {"listen"}, {"replay"}},
}

// docCommand is one section of the command reference.
type docCommand struct {
	words   []string // as typed after flabsync
	summary string
	helpArg []string // what makes it print its usage (words + -h unless set)
}

func docCommands() []docCommand {
	var out []docCommand
	for _, c := range commands() {
		switch c.name {
		case "help":
			out = append(out, docCommand{words: []string{"help"}, summary: c.summary})
			continue
		case "exceptions":
			out = append(out, docCommand{words: []string{c.name}, summary: c.summary, helpArg: []string{"exceptions", "list", "-h"}})
			continue
		case "mapping":
			out = append(out, docCommand{words: []string{c.name}, summary: c.summary})
			for _, s := range mappingCommands {
				out = append(out, docCommand{words: []string{c.name, s.name}, summary: s.summary})
			}
			continue
		}
		out = append(out, docCommand{words: []string{c.name}, summary: c.summary})
		for _, s := range docSubcommands[c.name] {
			out = append(out, docCommand{words: append([]string{c.name}, s...)})
		}
	}
	return out
}

// madeFlagSet is one flag set a command made while printing its usage.
type madeFlagSet struct {
	fs                    *flag.FlagSet
	synopsis, description string
}

// usageOf runs the command with -h and returns the flag set it made under
// its own name (nil when it makes none) and what it printed.
func usageOf(c docCommand) (*madeFlagSet, string) {
	var stderr bytes.Buffer
	var made []madeFlagSet
	m := &Main{Stdout: io.Discard, Stderr: &stderr, Stdin: strings.NewReader(""),
		flagSetMade: func(fs *flag.FlagSet, synopsis, description string) {
			made = append(made, madeFlagSet{fs, synopsis, description})
		}}
	args := c.helpArg
	if args == nil {
		args = append(append([]string{}, c.words...), "-h")
	}
	m.Run(context.Background(), args)
	name := strings.Join(c.words, " ")
	for i := len(made) - 1; i >= 0; i-- {
		if made[i].fs.Name() == name {
			return &made[i], stderr.String()
		}
	}
	if len(made) > 0 && strings.HasPrefix(made[len(made)-1].fs.Name(), c.words[0]+" ") {
		return &made[len(made)-1], stderr.String() // another name for a sibling
	}
	return nil, stderr.String()
}
