package sheet

import (
	"archive/zip"
	"bytes"
	"encoding/xml"
	"errors"
	"io"
	"strconv"
	"unicode/utf8"
)

// The worksheet lexer: a worksheet is by far the largest part a read
// unpacks, and encoding/xml's tokenizer allocates for every tag, name,
// attribute and text. This one reads the XML of a UTF-8 worksheet with
// no allocation per token and the same checks — well formed as far as
// the reader relies on it (tags and attributes closed, entities known,
// no character XML forbids, every end tag naming the element it closes,
// elements closed by the end), every token
// within maxXMLToken, a text run counted whole however it arrives — and
// hands the sheetScan its elements and text as byte slices valid until
// it returns. A part it does not read (another encoding, a DOCTYPE) it
// gives back to encoding/xml (errFallback) before any row is handed over.

// errFallback: the part is read with encoding/xml instead.
var errFallback = errors.New("read with encoding/xml")

// rawAttr is one attribute of a tag: its local name and its value with
// entities decoded.
type rawAttr struct{ local, value []byte }

// lexer reads one worksheet part.
type lexer struct {
	r    io.Reader
	buf  []byte
	i, n int
	eof  bool

	tagName []byte // the local name of the start tag read
	qName   []byte // its name as written
	attrs   []rawAttr
	spans   []attrSpan
	attrBuf []byte // decoded attribute values
	text    []byte // decoded text
	textRun int    // bytes of the current text run so far
	open    openTags
	started bool // the root element was seen
}

// lexSheet streams the worksheet zf through s.
func lexSheet(zf *zip.File, s *sheetScan) error {
	rc, err := zf.Open()
	if err != nil {
		return err
	}
	defer rc.Close()
	l := &lexer{r: rc, buf: make([]byte, 64<<10)}
	return l.run(s)
}

// fill reads more into the buffer, keeping buf[from:n] (moved to the
// front); it grows the buffer for a token longer than it, up to
// maxXMLToken. It reports whether anything was read.
func (l *lexer) fill(from int) (bool, error) {
	if l.eof {
		return false, nil
	}
	if from > 0 {
		copy(l.buf, l.buf[from:l.n])
		l.n -= from
		l.i -= from
	}
	if l.n == len(l.buf) {
		if len(l.buf) > maxXMLToken {
			return false, errToken
		}
		nb := make([]byte, 2*len(l.buf))
		copy(nb, l.buf[:l.n])
		l.buf = nb
	}
	for range 100 {
		k, err := l.r.Read(l.buf[l.n:])
		l.n += k
		switch {
		case errors.Is(err, io.EOF):
			l.eof = true
		case err != nil:
			return false, err
		}
		if k > 0 || l.eof {
			return k > 0, nil
		}
	}
	return false, io.ErrNoProgress
}

func syntaxErr(msg string) error { return &xml.SyntaxError{Msg: msg} }

// run reads the part to its end (or until s stops it).
func (l *lexer) run(s *sheetScan) error {
	if _, err := l.fill(0); err != nil {
		return err
	}
	// A byte-order mark: UTF-8 is read here, any other is not.
	switch {
	case bytes.HasPrefix(l.buf[:l.n], []byte("\xEF\xBB\xBF")):
		l.i = 3
	case bytes.HasPrefix(l.buf[:l.n], []byte("\xFF\xFE")), bytes.HasPrefix(l.buf[:l.n], []byte("\xFE\xFF")):
		return errFallback
	}
	head := bytes.TrimLeft(l.buf[l.i:l.n], " \t\r\n")
	if len(head) == 0 || head[0] != '<' {
		return errNotXML
	}
	for {
		// Text up to the next tag.
		j := bytes.IndexByte(l.buf[l.i:l.n], '<')
		if j < 0 {
			// Hand over what is safe: not a cut entity or CR.
			end := l.n
			if !l.eof {
				if a := bytes.LastIndexByte(l.buf[l.i:l.n], '&'); a >= 0 && bytes.IndexByte(l.buf[l.i+a:l.n], ';') < 0 {
					end = l.i + a
				} else if l.n > l.i && l.buf[l.n-1] == '\r' {
					end = l.n - 1
				}
			}
			if err := l.chars(s, l.buf[l.i:end], false); err != nil {
				return err
			}
			l.i = end
			if l.eof {
				if l.i < l.n {
					return syntaxErr("unexpected EOF in an entity")
				}
				if l.open.depth() != 0 {
					return syntaxErr("unexpected end of the part")
				}
				return nil
			}
			if _, err := l.fill(l.i); err != nil {
				return err
			}
			continue
		}
		if j > 0 {
			if err := l.chars(s, l.buf[l.i:l.i+j], false); err != nil {
				return err
			}
			l.i += j
		}
		l.textRun = 0
		if err := l.tag(s); err != nil {
			return err
		}
	}
}

// chars hands s a piece of text, decoded (cdata: as it is), counting it
// into the current run.
func (l *lexer) chars(s *sheetScan, b []byte, cdata bool) error {
	if len(b) == 0 {
		return nil
	}
	if l.textRun += len(b); l.textRun > maxXMLToken {
		return errToken
	}
	t, err := l.decode(l.text[:0], b, !cdata)
	if err != nil {
		return err
	}
	l.text = t
	if !l.started || !s.inCell {
		return nil // text outside cells is not read; it was checked
	}
	return s.chars(t)
}

// decode appends b to dst with line ends made "\n" and, if entities,
// entities decoded, refusing a character XML forbids.
func (l *lexer) decode(dst, b []byte, entities bool) ([]byte, error) {
	for k := 0; k < len(b); k++ {
		c := b[k]
		switch {
		case c == '\r':
			dst = append(dst, '\n')
			if k+1 < len(b) && b[k+1] == '\n' {
				k++
			}
		case c < 0x20 && c != '\t' && c != '\n':
			return nil, syntaxErr("illegal character code U+" + strconv.FormatInt(int64(c), 16))
		case c == '&' && entities:
			semi := bytes.IndexByte(b[k:], ';')
			if semi < 0 {
				return nil, syntaxErr("invalid character entity (no semicolon)")
			}
			r, ok := entity(b[k+1 : k+semi])
			if !ok {
				// Not the entity's text: it can be a cell's (up to the
				// next semicolon, anywhere in the run).
				return nil, syntaxErr("invalid character entity")
			}
			dst = utf8.AppendRune(dst, r)
			k += semi
		case c == 0xEF && k+2 < len(b) && b[k+1] == 0xBF && (b[k+2] == 0xBE || b[k+2] == 0xBF):
			return nil, syntaxErr("illegal character code U+FFFE or U+FFFF")
		default:
			dst = append(dst, c)
		}
	}
	return dst, nil
}

// entity decodes the name of an entity reference (between & and ;).
func entity(name []byte) (rune, bool) {
	switch string(name) {
	case "lt":
		return '<', true
	case "gt":
		return '>', true
	case "amp":
		return '&', true
	case "apos":
		return '\'', true
	case "quot":
		return '"', true
	}
	if len(name) < 2 || name[0] != '#' {
		return 0, false
	}
	base, digits := 10, name[1:]
	if digits[0] == 'x' {
		base, digits = 16, digits[1:]
	}
	v, err := strconv.ParseUint(string(digits), base, 32)
	if err != nil {
		return 0, false
	}
	r := rune(v)
	if r == 0x09 || r == 0x0A || r == 0x0D || r >= 0x20 && r <= 0xD7FF || r >= 0xE000 && r <= 0xFFFD || r >= 0x10000 && r <= 0x10FFFF {
		return r, true
	}
	return 0, false
}

// need makes sure k bytes from l.i are in the buffer, reading more; it
// reports false at the end of the part.
func (l *lexer) need(k int) (bool, error) {
	for l.n-l.i < k {
		if k > maxXMLToken {
			return false, errToken
		}
		more, err := l.fill(l.i)
		if err != nil {
			return false, err
		}
		if !more && l.eof {
			return false, nil
		}
	}
	return true, nil
}

// until finds delim from l.i+from, reading more as needed, and returns
// its offset from l.i; the construct must end within maxXMLToken.
func (l *lexer) until(from int, delim string, what string) (int, error) {
	for {
		if j := bytes.Index(l.buf[l.i+from:l.n], []byte(delim)); j >= 0 {
			return from + j, nil
		}
		if l.eof {
			return 0, syntaxErr("unexpected EOF in " + what)
		}
		if l.n-l.i > maxXMLToken {
			return 0, errToken
		}
		from = max(0, l.n-l.i-len(delim)+1)
		if _, err := l.fill(l.i); err != nil {
			return 0, err
		}
	}
}

// tag reads the markup at l.i (a '<').
func (l *lexer) tag(s *sheetScan) error {
	if ok, err := l.need(2); err != nil {
		return err
	} else if !ok {
		return syntaxErr("unexpected EOF")
	}
	switch l.buf[l.i+1] {
	case '?':
		end, err := l.until(2, "?>", "a processing instruction")
		if err != nil {
			return err
		}
		pi := l.buf[l.i+2 : l.i+end]
		if bytes.HasPrefix(pi, []byte("xml")) && !l.started {
			if enc := declaredEncoding(pi); enc != "" && !isUTF8Name(enc) {
				return errFallback
			}
		}
		l.i += end + 2
		return nil
	case '!':
		if ok, err := l.need(9); err != nil {
			return err
		} else if ok && bytes.HasPrefix(l.buf[l.i:], []byte("<![CDATA[")) {
			end, err := l.until(9, "]]>", "CDATA")
			if err != nil {
				return err
			}
			if err := l.chars(s, l.buf[l.i+9:l.i+end], true); err != nil {
				return err
			}
			l.textRun = 0
			l.i += end + 3
			return nil
		}
		if ok, err := l.need(4); err != nil {
			return err
		} else if ok && bytes.HasPrefix(l.buf[l.i:], []byte("<!--")) {
			end, err := l.until(4, "-->", "a comment")
			if err != nil {
				return err
			}
			l.i += end + 3
			return nil
		}
		if s.num == 0 && !s.inRow {
			return errFallback // a DOCTYPE or another directive: encoding/xml reads those
		}
		return syntaxErr("a directive inside the sheet")
	case '/':
		end, err := l.until(2, ">", "an end tag")
		if err != nil {
			return err
		}
		name := bytes.TrimRight(l.buf[l.i+2:l.i+end], " \t\r\n")
		if len(name) == 0 || bytes.ContainsAny(name, " \t\r\n<") {
			return syntaxErr("invalid end tag")
		}
		if err := l.open.pop(name); err != nil {
			return err
		}
		l.i += end + 1
		return s.end(localName(name))
	}
	return l.startTag(s)
}

// startTag reads a start (or empty-element) tag at l.i.
func (l *lexer) startTag(s *sheetScan) error {
	for {
		end, closed, err := l.parseStart()
		if err == nil {
			l.i += end
			l.started = true
			if !closed {
				if err := l.open.push(l.qName); err != nil {
					return err
				}
			}
			if err := s.start(l.tagName, l.attrs); err != nil {
				return err
			}
			if closed {
				return s.end(l.tagName)
			}
			return nil
		}
		if !errors.Is(err, errShort) {
			return err
		}
		if l.eof {
			return syntaxErr("unexpected EOF in a tag")
		}
		if l.n-l.i > maxXMLToken {
			return errToken
		}
		if _, err := l.fill(l.i); err != nil {
			return err
		}
	}
}

// errShort: the tag goes on past the bytes read.
var errShort = errors.New("short")

// parseStart parses the start tag at l.i into l.tagName and l.attrs; end
// is its length, closed whether it closes itself.
func (l *lexer) parseStart() (end int, closed bool, err error) {
	b := l.buf[l.i:l.n]
	k := 1
	nameEnd := k
	for nameEnd < len(b) && !isSpace(b[nameEnd]) && b[nameEnd] != '>' && b[nameEnd] != '/' {
		if b[nameEnd] == '<' || b[nameEnd] == '=' || b[nameEnd] == '"' || b[nameEnd] == '\'' {
			return 0, false, syntaxErr("invalid tag name")
		}
		nameEnd++
	}
	if nameEnd == len(b) {
		return 0, false, errShort
	}
	if nameEnd == k {
		return 0, false, syntaxErr("expected element name after <")
	}
	l.qName = b[k:nameEnd]
	l.tagName = localName(l.qName)
	l.attrs, l.attrBuf, l.spans = l.attrs[:0], l.attrBuf[:0], l.spans[:0]
	k = nameEnd
	for {
		for k < len(b) && isSpace(b[k]) {
			k++
		}
		if k == len(b) {
			return 0, false, errShort
		}
		switch b[k] {
		case '>':
			l.fixAttrs(b)
			return k + 1, false, nil
		case '/':
			if k+1 == len(b) {
				return 0, false, errShort
			}
			if b[k+1] != '>' {
				return 0, false, syntaxErr("expected /> in element")
			}
			l.fixAttrs(b)
			return k + 2, true, nil
		}
		// An attribute: name = "value".
		a := k
		for k < len(b) && !isSpace(b[k]) && b[k] != '=' && b[k] != '>' && b[k] != '/' {
			k++
		}
		if k == len(b) {
			return 0, false, errShort
		}
		if k == a {
			return 0, false, syntaxErr("expected attribute name in element")
		}
		nameEnd := k
		for k < len(b) && isSpace(b[k]) {
			k++
		}
		if k == len(b) {
			return 0, false, errShort
		}
		if b[k] != '=' {
			return 0, false, syntaxErr("unquoted or missing attribute value in element")
		}
		k++
		for k < len(b) && isSpace(b[k]) {
			k++
		}
		if k == len(b) {
			return 0, false, errShort
		}
		q := b[k]
		if q != '"' && q != '\'' {
			return 0, false, syntaxErr("unquoted or missing attribute value in element")
		}
		k++
		v := bytes.IndexByte(b[k:], q)
		if v < 0 {
			return 0, false, errShort
		}
		raw := b[k : k+v]
		if bytes.IndexByte(raw, '<') >= 0 {
			return 0, false, syntaxErr("unescaped < inside quoted string")
		}
		start := len(l.attrBuf)
		if l.attrBuf, err = l.decode(l.attrBuf, raw, true); err != nil {
			return 0, false, err
		}
		l.spans = append(l.spans, attrSpan{name: a, nameEnd: nameEnd, start: start, end: len(l.attrBuf)})
		k += v + 1
		if k < len(b) && !isSpace(b[k]) && b[k] != '>' && b[k] != '/' {
			return 0, false, syntaxErr("expected space between attributes")
		}
	}
}

// openTags is the names of the elements open at a point of a part, as
// written (with any prefix), to match each end tag to its start: the
// names one after another in names, the i-th ending at ends[i]. What it
// holds counts as one more token: within maxXMLToken (errToken).
type openTags struct {
	names []byte
	ends  []int32
}

func (o *openTags) depth() int { return len(o.ends) }

// push opens the element name.
func (o *openTags) push(name []byte) error {
	if len(o.names)+len(name)+4*(len(o.ends)+1) > maxXMLToken {
		return errToken
	}
	o.names = append(o.names, name...)
	o.ends = append(o.ends, int32(len(o.names)))
	return nil
}

// pushName opens the element an encoding/xml RawToken names (Space is
// its prefix).
func (o *openTags) pushName(n xml.Name) error {
	if len(o.names)+len(n.Space)+1+len(n.Local)+4*(len(o.ends)+1) > maxXMLToken {
		return errToken
	}
	if n.Space != "" {
		o.names = append(o.names, n.Space...)
		o.names = append(o.names, ':')
	}
	o.names = append(o.names, n.Local...)
	o.ends = append(o.ends, int32(len(o.names)))
	return nil
}

// pop closes the innermost element, refusing an end tag that names
// another (or closes none). The message names no element: a name is
// the part's text.
func (o *openTags) pop(name []byte) error {
	start, ok := o.top()
	if !ok {
		return syntaxErr("an end tag closes no element")
	}
	if string(o.names[start:]) != string(name) {
		return syntaxErr("an end tag does not match its start tag")
	}
	o.names, o.ends = o.names[:start], o.ends[:len(o.ends)-1]
	return nil
}

// popName is pop for an encoding/xml RawToken's end element.
func (o *openTags) popName(n xml.Name) error {
	start, ok := o.top()
	if !ok {
		return syntaxErr("an end tag closes no element")
	}
	open := o.names[start:]
	if n.Space != "" {
		if len(open) <= len(n.Space) || string(open[:len(n.Space)]) != n.Space || open[len(n.Space)] != ':' {
			return syntaxErr("an end tag does not match its start tag")
		}
		open = open[len(n.Space)+1:]
	}
	if string(open) != n.Local {
		return syntaxErr("an end tag does not match its start tag")
	}
	o.names, o.ends = o.names[:start], o.ends[:len(o.ends)-1]
	return nil
}

// top is where the innermost open element's name starts in names.
func (o *openTags) top() (int32, bool) {
	n := len(o.ends)
	switch n {
	case 0:
		return 0, false
	case 1:
		return 0, true
	}
	return o.ends[n-2], true
}

// attrSpan is where an attribute's name is in the tag and its decoded
// value in attrBuf.
type attrSpan struct{ name, nameEnd, start, end int }

// fixAttrs fills l.attrs from the spans once attrBuf no longer moves.
func (l *lexer) fixAttrs(b []byte) {
	for _, sp := range l.spans {
		l.attrs = append(l.attrs, rawAttr{local: localName(b[sp.name:sp.nameEnd]), value: l.attrBuf[sp.start:sp.end]})
	}
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

// localName is a qualified name without its prefix.
func localName(name []byte) []byte {
	if c := bytes.LastIndexByte(name, ':'); c >= 0 {
		return name[c+1:]
	}
	return name
}

// declaredEncoding is the encoding an XML declaration names, or "".
func declaredEncoding(pi []byte) string {
	k := bytes.Index(pi, []byte("encoding"))
	if k < 0 {
		return ""
	}
	rest := bytes.TrimLeft(pi[k+len("encoding"):], " \t\r\n")
	if len(rest) == 0 || rest[0] != '=' {
		return ""
	}
	rest = bytes.TrimLeft(rest[1:], " \t\r\n")
	if len(rest) < 2 || (rest[0] != '"' && rest[0] != '\'') {
		return ""
	}
	end := bytes.IndexByte(rest[1:], rest[0])
	if end < 0 {
		return ""
	}
	return string(rest[1 : 1+end])
}

func isUTF8Name(enc string) bool {
	return bytes.EqualFold([]byte(enc), []byte("utf-8")) || bytes.EqualFold([]byte(enc), []byte("utf8"))
}
