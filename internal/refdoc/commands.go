// Package refdoc writes the two reference pages that must not drift from
// the code: the command reference (docs/commands.md), from the flag sets
// the commands make, and the config key table (docs/config-keys.md), from
// internal/config's Config struct, its defaults and the commented
// example. cmd/flabsync's hidden gendocs command (`make docs`) collects
// the commands and writes the pages; its test fails when the committed
// pages differ from what this writes.
package refdoc

import (
	"bytes"
	"flag"
	"fmt"
	"strings"

	"github.com/flabsync/flabsync/internal/config"
)

// The generated pages, in docs/.
const (
	CommandsPage   = "commands.md"
	ConfigKeysPage = "config-keys.md"
)

// Regenerate is what a stale page's reader is told to run.
const Regenerate = "make docs (go run ./cmd/flabsync gendocs)"

func generatedHeader(from string) string {
	return "<!-- Generated from " + from + " by `" + Regenerate + "`. Do not edit: change the code and regenerate. -->\n\n"
}

// Commands is what the command reference is written from.
type Commands struct {
	// Exit codes the page explains.
	ExitOK, ExitPartial, ExitUsage int
	// Commands are the sections, in order.
	Commands []Command
	// MachineDefaults are flag defaults taken from the machine running
	// gendocs (its host name, say), each with the words the page writes
	// instead, so the page is the same on every machine. The first that
	// matches wins; an empty Value matches nothing.
	MachineDefaults []MachineDefault
}

// MachineDefault is one flag default that depends on the machine.
type MachineDefault struct {
	Value string // the default as this machine makes it
	Says  string // what the page writes instead
}

// Command is one section of the command reference.
type Command struct {
	// Words are as typed after flabsync: {"mapping", "sync"}.
	Words []string
	// Summary is the one line the help lists; empty for a subcommand the
	// help does not list (then it is left out of the command table).
	Summary string
	// Markdown, when set, is the section's body as is: for a command
	// with no flag set of its own, such as help.
	Markdown string
	// Flags is the flag set the command made when asked for -h (nil when
	// none), with the synopsis and description it prints. A flag set
	// named other than Words is a sibling's: the section says it is
	// another name for that.
	Flags                 *flag.FlagSet
	Synopsis, Description string
	// Printed is what -h printed, written as the usage when Flags is nil.
	Printed string
}

// anchor is the GitHub anchor of a "## flabsync WORDS" heading.
func anchor(words []string) string {
	return "flabsync-" + strings.Join(words, "-")
}

// CommandsMarkdown writes the command reference, docs/commands.md.
func CommandsMarkdown(ref Commands) ([]byte, error) {
	var b bytes.Buffer
	b.WriteString(generatedHeader("the commands' own flag sets (cmd/flabsync)"))
	b.WriteString("# Command reference\n\n")
	b.WriteString("Every command, every flag, its default and its help text: what `flabsync COMMAND -h` prints.\n")
	b.WriteString("A flag is written `--name` or `-name`, its value after `=` or a space. Most commands read the\n")
	b.WriteString("config named by `--config FILE`, else `$" + config.EnvPath + "`, else `./" + config.DefaultPath + "`\n")
	b.WriteString("(see [configuration](configuration.md)).\n\n")
	b.WriteString("## Exit codes\n\n")
	b.WriteString("Every command, for cron and scripts:\n\n")
	b.WriteString("| code | means |\n|---|---|\n")
	fmt.Fprintf(&b, "| %d | all good |\n", ref.ExitOK)
	fmt.Fprintf(&b, "| %d | finished, but some rows or checks failed (a rejected row, a file that could not be read, a failed doctor check, an email not sent), or a runtime failure such as an unreachable database |\n", ref.ExitPartial)
	fmt.Fprintf(&b, "| %d | bad usage or config: the message names the flag, key or value, with a hint |\n\n", ref.ExitUsage)
	b.WriteString("## Commands\n\n")
	b.WriteString("| command | what it does |\n|---|---|\n")
	for _, c := range ref.Commands {
		if c.Summary == "" {
			continue
		}
		fmt.Fprintf(&b, "| [`%s`](#%s) | %s |\n", strings.Join(c.Words, " "), anchor(c.Words), cell(c.Summary))
	}
	b.WriteString("\n")
	for _, cmd := range ref.Commands {
		fmt.Fprintf(&b, "## flabsync %s\n\n", strings.Join(cmd.Words, " "))
		if cmd.Summary != "" {
			fmt.Fprintf(&b, "%s.\n\n", upperFirst(cmd.Summary))
		}
		if cmd.Markdown != "" {
			b.WriteString(cmd.Markdown)
			continue
		}
		if cmd.Flags == nil {
			if strings.TrimSpace(cmd.Printed) == "" {
				return nil, fmt.Errorf("flabsync %s -h makes no flag set and prints nothing", strings.Join(cmd.Words, " "))
			}
			fmt.Fprintf(&b, "```\n%s```\n\n", cmd.Printed)
			continue
		}
		if name := cmd.Flags.Name(); name != strings.Join(cmd.Words, " ") {
			fmt.Fprintf(&b, "Another name for [`flabsync %s`](#%s).\n\n", name, anchor(strings.Fields(name)))
			continue
		}
		fmt.Fprintf(&b, "```\nflabsync %s\n```\n\n", cmd.Synopsis)
		fmt.Fprintf(&b, "```text\n%s\n```\n\n", strings.TrimRight(cmd.Description, "\n"))
		var flags []*flag.Flag
		cmd.Flags.VisitAll(func(f *flag.Flag) { flags = append(flags, f) })
		if len(flags) == 0 {
			b.WriteString("No flags.\n\n")
			continue
		}
		b.WriteString("| flag | default | meaning |\n|---|---|---|\n")
		for _, f := range flags {
			valueName, usage := flag.UnquoteUsage(f)
			name := "--" + f.Name
			if valueName != "" {
				name += " " + valueName
			}
			fmt.Fprintf(&b, "| `%s` | %s | %s |\n", name, flagDefault(f, ref.MachineDefaults), cell(usage))
		}
		b.WriteString("\n")
	}
	return bytes.TrimRight(b.Bytes(), "\n"), nil
}

// flagDefault renders a flag's default, the same on every machine: a
// default taken from the machine running it is described, not shown.
func flagDefault(f *flag.Flag, machine []MachineDefault) string {
	if f.DefValue == "" {
		return "—"
	}
	for _, md := range machine {
		if md.Value != "" && f.DefValue == md.Value {
			return md.Says
		}
	}
	return "`" + f.DefValue + "`"
}

// cell makes text safe in a Markdown table cell: one line, pipes
// escaped, and outside code spans no "<" that could read as HTML.
func cell(s string) string {
	s = strings.ReplaceAll(s, "\n", " ")
	s = strings.ReplaceAll(s, "|", `\|`)
	parts := strings.Split(s, "`")
	for i := 0; i < len(parts); i += 2 {
		parts[i] = strings.ReplaceAll(parts[i], "<", "&lt;")
	}
	return strings.Join(parts, "`")
}

func upperFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}
