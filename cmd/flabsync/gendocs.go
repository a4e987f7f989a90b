package main

// The two reference pages that must not drift from the code are written by
// the code: `make docs` runs the hidden command `flabsync gendocs`, which
// asks every command for its flag set (by running it with -h and keeping
// the flag sets it makes) and reads the config struct, its defaults and
// the commented example. TestGeneratedDocsUpToDate fails when the
// committed pages differ from what this writes.

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/flabsync/flabsync/internal/config"
	"github.com/flabsync/flabsync/schedules"
)

// gendocsCommand is the hidden command behind `make docs`.
const gendocsCommand = "gendocs"

// The generated pages, in docs/.
const (
	commandsPage   = "commands.md"
	configKeysPage = "config-keys.md"
)

// regenerate is what a stale page's reader is told to run.
const regenerate = "make docs (go run ./cmd/flabsync gendocs)"

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
		return nil, fmt.Errorf("gendocs: %s: %w", commandsPage, err)
	}
	keys, err := configKeysMarkdown()
	if err != nil {
		return nil, fmt.Errorf("gendocs: %s: %w", configKeysPage, err)
	}
	return map[string][]byte{commandsPage: cmds, configKeysPage: keys}, nil
}

func generatedHeader(from string) string {
	return "<!-- Generated from " + from + " by `" + regenerate + "`. Do not edit: change the code and regenerate. -->\n\n"
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

// anchor is the GitHub anchor of a "## flabsync WORDS" heading.
func anchor(words []string) string {
	return "flabsync-" + strings.Join(words, "-")
}

func commandsMarkdown() ([]byte, error) {
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
	fmt.Fprintf(&b, "| %d | all good |\n", ExitOK)
	fmt.Fprintf(&b, "| %d | finished, but some rows or checks failed (a rejected row, a file that could not be read, a failed doctor check, an email not sent), or a runtime failure such as an unreachable database |\n", ExitPartial)
	fmt.Fprintf(&b, "| %d | bad usage or config: the message names the flag, key or value, with a hint |\n\n", ExitUsage)
	b.WriteString("## Commands\n\n")
	b.WriteString("| command | what it does |\n|---|---|\n")
	cmds := docCommands()
	for _, c := range cmds {
		if c.summary == "" {
			continue
		}
		fmt.Fprintf(&b, "| [`%s`](#%s) | %s |\n", strings.Join(c.words, " "), anchor(c.words), cell(c.summary))
	}
	b.WriteString("\n")
	for _, c := range cmds {
		fmt.Fprintf(&b, "## flabsync %s\n\n", strings.Join(c.words, " "))
		if c.summary != "" {
			fmt.Fprintf(&b, "%s.\n\n", upperFirst(c.summary))
		}
		if c.words[0] == "help" {
			b.WriteString("```\nflabsync help [COMMAND]\n```\n\n")
			b.WriteString("Lists the commands, or prints one command's usage (the same as `flabsync COMMAND -h`).\n\n")
			continue
		}
		made, printed := usageOf(c)
		if made == nil {
			if strings.TrimSpace(printed) == "" {
				return nil, fmt.Errorf("flabsync %s -h makes no flag set and prints nothing", strings.Join(c.words, " "))
			}
			fmt.Fprintf(&b, "```\n%s```\n\n", printed)
			continue
		}
		if name := made.fs.Name(); name != strings.Join(c.words, " ") {
			fmt.Fprintf(&b, "Another name for [`flabsync %s`](#%s).\n\n", name, anchor(strings.Fields(name)))
			continue
		}
		fmt.Fprintf(&b, "```\nflabsync %s\n```\n\n", made.synopsis)
		fmt.Fprintf(&b, "```text\n%s\n```\n\n", strings.TrimRight(made.description, "\n"))
		var flags []*flag.Flag
		made.fs.VisitAll(func(f *flag.Flag) { flags = append(flags, f) })
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
			fmt.Fprintf(&b, "| `%s` | %s | %s |\n", name, flagDefault(f), cell(usage))
		}
		b.WriteString("\n")
	}
	return bytes.TrimRight(b.Bytes(), "\n"), nil
}

// flagDefault renders a flag's default, the same on every machine: a
// default taken from the machine running it is described, not shown.
func flagDefault(f *flag.Flag) string {
	host, _ := os.Hostname()
	switch {
	case f.DefValue == "":
		return "—"
	case host != "" && f.DefValue == host:
		return "this machine's host name"
	case f.DefValue == schedules.Holder():
		return "the OS user @ host name"
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

// configKey is one row of the key table.
type configKey struct {
	path    string // partners.<name>.email
	typ     string
	def     string
	comment string // from the example
}

func configKeysMarkdown() ([]byte, error) {
	comments, err := exampleComments(config.Example())
	if err != nil {
		return nil, err
	}
	def := reflect.ValueOf(config.Default())
	var rows []configKey
	walkConfig(reflect.TypeOf(config.Config{}), def, "", "", func(k configKey, examplePath string) {
		k.comment = comments[examplePath]
		rows = append(rows, k)
	})

	var b bytes.Buffer
	b.WriteString(generatedHeader("internal/config's Config struct, its Default() and `flabsync config example`"))
	b.WriteString("# Configuration keys\n\n")
	b.WriteString("Every key of the config file, its type, its default and what it does, as `flabsync config\n")
	b.WriteString("example` explains it. How the file is found, `${ENV}` expansion and validation are in\n")
	b.WriteString("[configuration](configuration.md). A key with no comment of its own in the example shares\n")
	b.WriteString("the one above it, so the two are one row.\n")

	section := ""
	for i := 0; i < len(rows); {
		// A key the example gives no comment of its own joins the row above.
		j := i + 1
		for j < len(rows) && rows[j].comment == "" && parent(rows[j].path) == parent(rows[i].path) {
			j++
		}
		if rows[i].comment == "" {
			return nil, fmt.Errorf("config key %s has no comment in internal/config/example.yaml: say what it does there", rows[i].path)
		}
		top, _, _ := strings.Cut(rows[i].path, ".")
		if top != section {
			section = top
			fmt.Fprintf(&b, "\n## %s\n\n| key | type | default | meaning |\n|---|---|---|---|\n", top)
		}
		var keys, types, defs []string
		for _, r := range rows[i:j] {
			keys = append(keys, "`"+r.path+"`")
			types = append(types, r.typ)
			defs = append(defs, r.def)
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s |\n", cell(strings.Join(keys, ", ")), cell(joinSame(types)),
			cell(strings.Join(defs, ", ")), cell(rows[i].comment))
		if top == "schedules" {
			b.WriteString("\nThe default schedule (`schedules/default.yaml`; times in `timezone`):\n\n| job | default |\n|---|---|\n")
			jobs := schedules.Default()
			for _, job := range sortedKeys(jobs) {
				fmt.Fprintf(&b, "| `%s` | `%s` |\n", job, jobs[job])
			}
		}
		i = j
	}

	b.WriteString("\n## Environment variables\n\n")
	fmt.Fprintf(&b, "`$%s` names the config file. `flabsync config example` reads these, so the file it\n", config.EnvPath)
	b.WriteString("prints needs no secret written into it (each is empty when unset):\n\n")
	b.WriteString("| variable | key |\n|---|---|\n")
	for _, ev := range exampleEnv(config.Example()) {
		fmt.Fprintf(&b, "| `%s` | `%s` |\n", ev[0], ev[1])
	}
	b.WriteString("\n`LOG_LEVEL` and `LOG_FORMAT` override `log.level` and `log.format`.\n")
	return b.Bytes(), nil
}

func parent(path string) string {
	if i := strings.LastIndex(path, "."); i >= 0 {
		return path[:i]
	}
	return ""
}

// joinSame writes one type for several keys of the same type.
func joinSame(ts []string) string {
	for _, t := range ts[1:] {
		if t != ts[0] {
			return strings.Join(ts, ", ")
		}
	}
	return ts[0]
}

var (
	durationType   = reflect.TypeOf(time.Duration(0))
	stringListType = reflect.TypeOf(config.StringList{})
)

// walkConfig calls leaf for every key of t in field order. def is the
// default value of t (invalid under a map: no default). examplePath is
// where the key sits in the example: a map's entries are written there
// as its first example entry (partners.sunrise).
func walkConfig(t reflect.Type, def reflect.Value, path, examplePath string, leaf func(configKey, string)) {
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "" || name == "-" {
			continue
		}
		p, ep := join(path, name), join(examplePath, name)
		var v reflect.Value
		if def.IsValid() {
			v = def.Field(i)
		}
		switch {
		case f.Type.Kind() == reflect.Struct && f.Type != durationType:
			walkConfig(f.Type, v, p, ep, leaf)
		case f.Type.Kind() == reflect.Map && f.Type.Elem().Kind() == reflect.Struct:
			walkConfig(f.Type.Elem(), reflect.Value{}, p+".<name>", ep+".sunrise", leaf)
		case f.Type.Kind() == reflect.Map:
			placeholder := map[string]string{"columns": "<field>", "schedules": "<job>"}[name]
			if placeholder == "" {
				placeholder = "<key>"
			}
			leaf(configKey{path: p + "." + placeholder, typ: typeOf(f.Type.Elem()), def: defaultOf(v, f.Type)}, ep)
		default:
			leaf(configKey{path: p, typ: typeOf(f.Type), def: defaultOf(v, f.Type)}, ep)
		}
	}
}

func join(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

func typeOf(t reflect.Type) string {
	switch {
	case t == durationType:
		return "duration"
	case t == stringListType:
		return "list"
	case t.Kind() == reflect.Pointer:
		return typeOf(t.Elem())
	case t.Kind() == reflect.Bool:
		return "bool"
	case t.Kind() == reflect.Int || t.Kind() == reflect.Int64:
		return "integer"
	case t.Kind() == reflect.Float64:
		return "number"
	}
	return "text"
}

// defaultOf renders a default; "—" for none (empty, or under a map).
func defaultOf(v reflect.Value, t reflect.Type) string {
	if !v.IsValid() || v.IsZero() && t.Kind() != reflect.Bool && t.Kind() != reflect.Int && t.Kind() != reflect.Float64 {
		return "—"
	}
	switch {
	case t == durationType:
		return "`" + shortDuration(time.Duration(v.Int())) + "`"
	case t.Kind() == reflect.Float64:
		return "`" + strconv.FormatFloat(v.Float(), 'f', -1, 64) + "`"
	}
	return fmt.Sprintf("`%v`", v.Interface())
}

// shortDuration writes 168h rather than 168h0m0s.
func shortDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// exampleComments returns the comment above each key of the example, by
// dotted path. The partners block, commented out in the example, is read
// as if it were not.
func exampleComments(example string) (map[string]string, error) {
	var root yaml.Node
	if err := yaml.Unmarshal([]byte(uncommentPartners(example)), &root); err != nil {
		return nil, fmt.Errorf("read the example: %w", err)
	}
	out := map[string]string{}
	var walk func(n *yaml.Node, path string)
	walk = func(n *yaml.Node, path string) {
		if n.Kind == yaml.DocumentNode {
			for _, c := range n.Content {
				walk(c, path)
			}
			return
		}
		if n.Kind != yaml.MappingNode {
			return
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			p := join(path, k.Value)
			if c := commentText(k.HeadComment); c != "" {
				out[p] = c
			}
			walk(v, p)
		}
	}
	walk(&root, "")
	return out, nil
}

// uncommentPartners turns the example's commented-out partner entry into
// YAML, so its keys' comments can be read like the others'.
func uncommentPartners(example string) string {
	lines := strings.Split(example, "\n")
	in := false
	for i, l := range lines {
		switch {
		case l == "partners:":
			in = true
		case in && strings.HasPrefix(l, "  # "):
			lines[i] = "  " + l[4:]
		case in:
			in = false
		}
	}
	return strings.Join(lines, "\n")
}

// commentText joins a YAML head comment's lines into one sentence run. A
// comment separated from its key by a blank line belongs to what is above.
func commentText(c string) string {
	if i := strings.LastIndex(c, "\n\n"); i >= 0 {
		c = c[i+2:]
	}
	var parts []string
	for _, l := range strings.Split(c, "\n") {
		l = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(l), "#"))
		if l != "" {
			parts = append(parts, l)
		}
	}
	return strings.Join(parts, " ")
}

var envRef = regexp.MustCompile(`(?m)^\s*([a-z_]+):\s*\$\{([A-Z_][A-Z0-9_]*)(?::-[^}]*)?\}`)

// exampleEnv returns the environment variables the example reads, each
// with the key it fills, in order.
func exampleEnv(example string) [][2]string {
	paths := map[string]string{}
	var root yaml.Node
	if yaml.Unmarshal([]byte(example), &root) == nil {
		var walk func(n *yaml.Node, path string)
		walk = func(n *yaml.Node, path string) {
			for _, c := range n.Content {
				if n.Kind == yaml.DocumentNode {
					walk(c, path)
				}
			}
			if n.Kind != yaml.MappingNode {
				return
			}
			for i := 0; i+1 < len(n.Content); i += 2 {
				k, v := n.Content[i], n.Content[i+1]
				if v.Kind == yaml.ScalarNode {
					if m := envRef.FindStringSubmatch(k.Value + ": " + v.Value); m != nil {
						paths[m[2]] = join(path, k.Value)
					}
				}
				walk(v, join(path, k.Value))
			}
		}
		walk(&root, "")
	}
	var out [][2]string
	for name, p := range paths {
		out = append(out, [2]string{name, p})
	}
	sort.Slice(out, func(i, j int) bool { return out[i][1] < out[j][1] })
	return out
}
