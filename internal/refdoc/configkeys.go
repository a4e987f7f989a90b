package refdoc

import (
	"bytes"
	"fmt"
	"maps"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/flabsync/flabsync/internal/config"
)

// configKey is one row of the key table.
type configKey struct {
	path    string // partners.<name>.email
	typ     string
	def     string
	comment string // from the example
}

// ConfigKeysMarkdown writes the config key table, docs/config-keys.md.
// defaultSchedule is the default cron expression of each job
// (schedules.Default()), listed under the schedules keys.
func ConfigKeysMarkdown(defaultSchedule map[string]string) ([]byte, error) {
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
			for _, job := range slices.Sorted(maps.Keys(defaultSchedule)) {
				fmt.Fprintf(&b, "| `%s` | `%s` |\n", job, defaultSchedule[job])
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
