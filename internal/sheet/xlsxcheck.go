package sheet

import (
	"archive/zip"
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"path"
	"strconv"
	"strings"

	"golang.org/x/text/encoding/htmlindex"
	"golang.org/x/text/transform"
)

// A workbook opened for excelize (OpenWorkbook) is checked whole before
// excelize opens it, because excelize unpacks
// every part of the zip when it opens a workbook, reads the shared-strings
// table and the XML of a cell whole, and stops a sheet silently where its
// XML is damaged. The check
//
//   - refuses, from the sizes the zip declares and before unpacking
//     anything, a workbook that unpacks to more than its size allows
//     (unzipBudget), a shared-strings table over MaxSharedStrings, and any
//     part excelize would hold in memory over maxPart (maxInMemory in
//     all); archive/zip fails a part that unpacks to more than it
//     declared, so the declared sizes hold;
//   - then streams the shared-strings table and every XML part through a
//     decoder that refuses any token (a text run, a tag) over maxXMLToken,
//     a text of the table over maxSharedString or beyond
//     MaxSharedStringItems, a cell over MaxCell and a row over MaxRowBytes
//     (a cell that refers to the table counted at its text's size), and a
//     worksheet or table whose XML is damaged.
//
// Nothing is held but one token and one size per shared string.

// xlsxCheckHint is what to do with a workbook refused for its make-up.
const xlsxCheckHint = "a workbook saved by Excel is never like this (damaged, or made to hurt): open it in Excel and save it again as .xlsx, or save the sheet as .csv"

// checkXLSX checks every part of the workbook zr, of size bytes, as
// above; maxUnzip is what it may unpack to (0: DefaultMaxUnzipSize) and
// maxTexts the most texts its shared-strings table may hold. It returns
// the unpacked size the workbook may have.
func checkXLSX(zr *zip.Reader, size, maxUnzip int64, maxTexts int) (int64, error) {
	budget := unzipBudget(size, maxUnzip)
	if len(zr.File) > maxParts {
		return budget, &LimitError{What: "part count", Size: int64(len(zr.File)), Limit: maxParts, Hint: xlsxCheckHint}
	}
	if err := checkDeclared(zr, size, budget, true); err != nil {
		return budget, err
	}
	names := sheetParts(zr)
	var sst []uint32
	var err error
	for _, zf := range zr.File {
		if isSharedStrings(zf.Name) {
			if sst, err = scanSharedStrings(zf, maxTexts); err != nil {
				return budget, err
			}
		}
	}
	for _, zf := range zr.File {
		if isSharedStrings(zf.Name) || zf.FileInfo().IsDir() {
			continue
		}
		if err := scanPart(zf, names[partName(zf.Name)], sst); err != nil {
			return budget, err
		}
	}
	return budget, nil
}

// isXMLPart reports a part the book may read: XML or relationships.
func isXMLPart(name string) bool {
	name = strings.ToLower(name)
	return strings.HasSuffix(name, ".xml") || strings.HasSuffix(name, ".rels")
}

// partName is a zip entry's name as excelize uses it.
func partName(name string) string { return strings.ReplaceAll(name, "\\", "/") }

func isSharedStrings(name string) bool {
	return strings.EqualFold(partName(name), "xl/sharedStrings.xml")
}

// isWorksheetName reports the parts excelize unpacks to a temporary file
// when they are large.
func isWorksheetName(name string) bool {
	return strings.HasPrefix(strings.ToLower(partName(name)), "xl/worksheets/sheet")
}

// checkDeclared checks the sizes the zip declares. With readsAll (a
// workbook excelize opens, which unpacks and holds every part) every part
// is bounded; without (the book, which reads only XML parts), a part
// that is not XML — a picture, an embedded object — is only counted in
// the whole, never read.
func checkDeclared(zr *zip.Reader, size, budget int64, readsAll bool) error {
	hint := fmt.Sprintf("a workbook of %s may unpack to %s at most (%d times its size, or %s if more; Excel's unpack to 3 to 10 times their size): "+
		"it is damaged or made to hurt; open it in Excel and save it again, or save the sheet as .csv",
		sizeText(size), sizeText(budget), MaxUnzipRatio, sizeText(MinUnzipBudget))
	if budget < max(MinUnzipBudget, size*MaxUnzipRatio) {
		// The bound is the most any workbook may unpack to, not this
		// one's ratio.
		hint = fmt.Sprintf("no workbook read may unpack to more than %s: save the sheet as .csv, or split the workbook", sizeText(budget))
	}
	var total, inMemory int64
	for _, zf := range zr.File {
		n := int64(zf.UncompressedSize64)
		if zf.UncompressedSize64 > 1<<62 {
			n = 1 << 62
		}
		total += n
		name := partName(zf.Name)
		switch {
		case n > budget:
			what := "part"
			switch {
			case isSharedStrings(name):
				what = "shared strings"
			case isWorksheetName(name):
				what = "worksheet"
			}
			return &LimitError{What: what, Part: name, Size: n, Limit: budget, Hint: hint}
		case isSharedStrings(name) && n > MaxSharedStrings:
			return &LimitError{What: "shared strings", Part: name, Size: n, Limit: MaxSharedStrings,
				Hint: "the workbook holds more text than a booking sheet can (hundreds of thousands of rows): split it, or save the sheet as .csv"}
		case (isSharedStrings(name) || isWorksheetName(name)) && n > xmlInMemory:
			// unpacked to a temporary file and streamed from there
		case !readsAll && !isXMLPart(name):
			// never read
		case n > maxPart:
			return &LimitError{What: "part", Part: name, Size: n, Limit: maxPart,
				Hint: "only the sheets are read, but this part is too large to open the workbook with; remove large pictures or objects, or save the sheet as .csv"}
		default:
			inMemory += n
		}
		if total > budget {
			return &LimitError{What: "workbook", Size: total, Limit: budget, Hint: hint}
		}
	}
	if inMemory > maxInMemory {
		return &LimitError{What: "workbook", Size: inMemory, Limit: maxInMemory,
			Hint: "its many sheets and parts are too large to open together; save the sheet to read as .csv, or as a workbook of its own"}
	}
	return nil
}

// sheetParts maps the workbook's worksheet parts to their sheet names, as
// far as the workbook says (for messages; every part is checked anyway).
func sheetParts(zr *zip.Reader) map[string]string {
	find := func(name string) *zip.File {
		for _, zf := range zr.File {
			if strings.EqualFold(partName(zf.Name), name) {
				return zf
			}
		}
		return nil
	}
	wbPath := "xl/workbook.xml"
	if zf := find("_rels/.rels"); zf != nil {
		for _, target := range relationships(zf, "/officeDocument") {
			wbPath = strings.TrimPrefix(path.Clean("/"+target), "/")
		}
	}
	out := map[string]string{}
	wb := find(wbPath)
	rels := find(path.Join(path.Dir(wbPath), "_rels", path.Base(wbPath)+".rels"))
	if wb == nil || rels == nil {
		return out
	}
	targets := relationships(rels, "")
	_ = xmlTokens(wb, func(tok xml.Token) error {
		se, ok := tok.(xml.StartElement)
		if !ok || se.Name.Local != "sheet" {
			return nil
		}
		var name, id string
		for _, a := range se.Attr {
			switch {
			case a.Name.Local == "name":
				name = a.Value
			case a.Name.Local == "id" && a.Name.Space != "":
				id = a.Value
			}
		}
		if t, ok := targets[id]; ok {
			out[partPath(wbPath, t)] = name
		}
		return nil
	})
	return out
}

// relationships reads a .rels part: Id → Target, of the relationships
// whose Type ends with typ ("" for all).
func relationships(zf *zip.File, typ string) map[string]string {
	out := map[string]string{}
	_ = xmlTokens(zf, func(tok xml.Token) error {
		se, ok := tok.(xml.StartElement)
		if !ok || se.Name.Local != "Relationship" {
			return nil
		}
		var id, target, t string
		for _, a := range se.Attr {
			switch a.Name.Local {
			case "Id":
				id = a.Value
			case "Target":
				target = a.Value
			case "Type":
				t = a.Value
			}
		}
		if strings.HasSuffix(t, typ) && len(out) < 1<<16 {
			out[id] = strings.ReplaceAll(target, "\\", "/")
		}
		return nil
	})
	return out
}

var (
	errToken  = errors.New("xml token over the bound")
	errNotXML = errors.New("not xml")
)

// tokenBudget is the decoder's reader, buffered: it fails a read once
// more than maxXMLToken bytes have gone into one token (left is reset
// after each).
type tokenBudget struct {
	r    io.Reader
	buf  []byte
	i, n int
	err  error
	left int
}

func (t *tokenBudget) fill() error {
	if t.err != nil {
		return t.err
	}
	t.i = 0
	t.n, t.err = io.ReadAtLeast(t.r, t.buf, 1)
	if t.n > 0 {
		return nil
	}
	if errors.Is(t.err, io.ErrUnexpectedEOF) {
		t.err = io.EOF
	}
	return t.err
}

func (t *tokenBudget) ReadByte() (byte, error) {
	if t.i == t.n {
		if err := t.fill(); err != nil {
			return 0, err
		}
	}
	if t.left <= 0 {
		return 0, errToken
	}
	t.left--
	b := t.buf[t.i]
	t.i++
	return b, nil
}

func (t *tokenBudget) Read(p []byte) (int, error) {
	if t.i == t.n {
		if err := t.fill(); err != nil {
			return 0, err
		}
	}
	if t.left <= 0 {
		return 0, errToken
	}
	n := copy(p[:min(len(p), t.left)], t.buf[t.i:t.n])
	t.i += n
	t.left -= n
	return n, nil
}

// startsXML reports whether the text begins as XML does (after a
// byte-order mark and blanks), or why it could not be read.
func (t *tokenBudget) startsXML() (bool, error) {
	if err := t.fill(); err != nil {
		if errors.Is(err, io.EOF) {
			return false, nil
		}
		return false, err
	}
	head := bytes.TrimLeft(bytes.TrimPrefix(t.buf[:t.n], []byte("\xEF\xBB\xBF")), " \t\r\n")
	return len(head) > 0 && head[0] == '<', nil
}

// xmlTokens streams the XML part zf through fn, one raw token at a time
// (valid until fn returns), refusing any token over maxXMLToken
// (errToken) and a part that is not well formed (an *xml.SyntaxError: an
// end tag that does not close the element open, elements left open). A part that does not begin as XML is passed over
// (errNotXML). An error from fn stops the stream and is returned.
func xmlTokens(zf *zip.File, fn func(xml.Token) error) error {
	rc, err := zf.Open()
	if err != nil {
		return err
	}
	defer rc.Close()
	bufSize := min(64<<10, max(512, int(min(zf.UncompressedSize64, 1<<20))+1))
	budget := &tokenBudget{r: rc, buf: make([]byte, bufSize), left: maxXMLToken}
	if ok, err := budget.startsXML(); err != nil {
		return err
	} else if !ok {
		return errNotXML
	}
	d := xml.NewDecoder(budget)
	d.CharsetReader = func(label string, input io.Reader) (io.Reader, error) {
		enc, err := htmlindex.Get(label)
		if err != nil {
			return nil, err
		}
		return transform.NewReader(input, enc.NewDecoder()), nil
	}
	var open openTags
	for {
		tok, err := d.RawToken()
		if errors.Is(err, io.EOF) {
			if open.depth() != 0 {
				return &xml.SyntaxError{Msg: "unexpected end of the part", Line: 0}
			}
			return nil
		}
		if err != nil {
			return err
		}
		// RawToken matches no end tag to its start: matched here, as the
		// worksheet lexer does.
		switch t := tok.(type) {
		case xml.StartElement:
			err = open.pushName(t.Name)
		case xml.EndElement:
			err = open.popName(t.Name)
		}
		if se := (*xml.SyntaxError)(nil); errors.As(err, &se) {
			se.Line, _ = d.InputPos()
			return se
		} else if err != nil {
			return err
		}
		if err := fn(tok); err != nil {
			return err
		}
		budget.left = maxXMLToken
	}
}

// xmlFault says what is wrong with a part's XML, for a message, without
// any of the part's text: encoding/xml's messages quote what they read
// (an entity, a name: a cell's text, maybe, up to maxXMLToken of it), so
// only the words before such a quote are kept, with the line. Errors of
// another kind (the zip's, a charset's) hold none of the part's text.
func xmlFault(err error) string {
	var se *xml.SyntaxError
	switch {
	case errors.Is(err, errNotXML):
		return "it is not XML"
	case !errors.As(err, &se):
		return err.Error()
	}
	msg := se.Msg
	if i := strings.IndexAny(msg, "&<:\"'"); i >= 0 {
		msg = strings.TrimSpace(msg[:i])
	}
	if se.Line > 0 {
		msg += " on line " + strconv.Itoa(se.Line)
	}
	return msg
}

// scanSharedStrings checks the shared-strings table and returns the size
// of each of its texts (an upper bound of what excelize makes of it).
func scanSharedStrings(zf *zip.File, maxTexts int) ([]uint32, error) {
	name := partName(zf.Name)
	var (
		sizes []uint32
		in    bool  // inside <si>
		cur   int64 // the text of the current <si>
		inT   int   // inside <t>
	)
	err := xmlTokens(zf, func(tok xml.Token) error {
		switch t := tok.(type) {
		case xml.StartElement:
			switch t.Name.Local {
			case "si":
				in, cur = true, 0
			case "t":
				inT++
			}
		case xml.EndElement:
			switch t.Name.Local {
			case "si":
				if len(sizes) >= maxTexts {
					return &LimitError{What: "shared string count", Part: name, Size: int64(len(sizes) + 1), Limit: int64(maxTexts),
						Hint: "the workbook holds more texts than a booking sheet can (hundreds of thousands of rows): split it, or save the sheet as .csv"}
				}
				sizes = append(sizes, uint32(cur))
				in = false
			case "t":
				inT--
			}
		case xml.CharData:
			if in && inT > 0 {
				if cur += int64(len(t)); cur > maxSharedString {
					return &LimitError{What: "shared string", Part: name, Size: cur, Limit: maxSharedString,
						Hint: "one text of the workbook is longer than Excel allows a cell (32,767 characters); " + xlsxCheckHint}
				}
			}
		}
		return nil
	})
	if err == nil || errors.Is(err, errNotXML) {
		return sizes, nil
	}
	return nil, sharedStringsFault(name, err)
}

// sharedStringsFault is the refusal of the shared-strings part name that
// err stopped: a token over its bound, a bound of its own, or damage
// (named by position, never by the text).
func sharedStringsFault(name string, err error) error {
	var le *LimitError
	switch {
	case errors.Is(err, errToken):
		return &LimitError{What: "xml token", Part: name, Size: maxXMLToken + 1, Limit: maxXMLToken, Hint: xlsxCheckHint}
	case errors.As(err, &le):
		return err
	}
	return fmt.Errorf("part %s: %w: the shared-strings table is damaged (%s); %s", name, ErrRefused, xmlFault(err), xlsxCheckHint)
}

// scanPart checks one part of the workbook: every token within bounds,
// and, wherever it has rows of cells (a worksheet), every cell within
// MaxCell and every row within MaxRowBytes. sheet names the part's
// worksheet, "" if the workbook does not say.
func scanPart(zf *zip.File, sheet string, sst []uint32) error {
	name := partName(zf.Name)
	var (
		root       string
		row, col   int
		rowBytes   int64
		inCell     bool
		shared     bool
		cellBytes  int64
		inV, inT   int
		v          []byte // a shared-string cell's index
		cellColumn string
	)
	where := func(e *LimitError) *LimitError {
		e.Sheet, e.Part = sheet, name
		return e
	}
	err := xmlTokens(zf, func(tok xml.Token) error {
		switch t := tok.(type) {
		case xml.StartElement:
			if root == "" {
				root = t.Name.Local
			}
			switch t.Name.Local {
			case "row":
				row++
				if r, err := strconv.Atoi(attr(t, "r")); err == nil && r > 0 {
					row = r
				}
				rowBytes, col = 0, 0
			case "c":
				inCell, shared, cellBytes, v = true, attr(t, "t") == "s", 0, v[:0]
				col++
				cellColumn = ""
				if ref := attr(t, "r"); ref != "" {
					letters := strings.TrimRight(ref, "0123456789")
					if n := columnIndex(letters); n > 0 {
						col, cellColumn = n, letters
					}
				}
			case "v":
				inV++
			case "t":
				inT++
			}
		case xml.EndElement:
			switch t.Name.Local {
			case "v":
				inV--
			case "t":
				inT--
			case "c":
				if !inCell {
					break
				}
				inCell = false
				size := cellBytes
				if shared {
					size = 0
					if i, err := strconv.Atoi(strings.TrimSpace(string(v))); err == nil && i >= 0 && i < len(sst) {
						size = int64(sst[i])
					}
				}
				if cellColumn == "" {
					cellColumn = columnName(col - 1)
				}
				if size > MaxCell {
					return where(&LimitError{What: "cell", Row: row, Column: cellColumn, Size: size, Limit: MaxCell,
						Hint: "a booking sheet has no cell this long: shorten or clear it and save the workbook again"})
				}
				if rowBytes += size; rowBytes > MaxRowBytes {
					return where(&LimitError{What: "row", Row: row, Size: rowBytes, Limit: MaxRowBytes,
						Hint: "a booking row is far shorter: clear the row's long cells and save the workbook again"})
				}
			}
		case xml.CharData:
			if inCell && (inV > 0 || inT > 0) {
				cellBytes += int64(len(t))
				if shared && inV > 0 && len(v) < 32 {
					v = append(v, t[:min(len(t), 32)]...)
				}
			}
		}
		return nil
	})
	switch {
	case err == nil || errors.Is(err, errNotXML):
		return nil
	case errors.Is(err, errToken):
		return where(&LimitError{What: "xml token", Size: maxXMLToken + 1, Limit: maxXMLToken, Hint: xlsxCheckHint})
	}
	var le *LimitError
	if errors.As(err, &le) {
		return err
	}
	var se *xml.SyntaxError
	if errors.As(err, &se) && root != "worksheet" && sheet == "" {
		// Damaged XML outside the sheets: excelize reads what it needs of
		// it, or fails saying so.
		return nil
	}
	what := "part " + name
	if sheet != "" {
		what = fmt.Sprintf("sheet %q", excerpt(sheet, maxQuoted))
	}
	if row > 0 {
		what += fmt.Sprintf(" after row %d", row)
	}
	return fmt.Errorf("%s: %w: the XML is damaged (%s), so rows would be lost; %s", what, ErrRefused, xmlFault(err), xlsxCheckHint)
}

// attr returns the value of start's attribute local (any prefix).
func attr(start xml.StartElement, local string) string {
	for _, a := range start.Attr {
		if a.Name.Local == local {
			return a.Value
		}
	}
	return ""
}

// columnIndex reads column letters (A, AB) as a 1-based index; 0 if they
// are not a column.
func columnIndex(letters string) int {
	if letters == "" || len(letters) > 3 {
		return 0
	}
	n := 0
	for i := 0; i < len(letters); i++ {
		c := letters[i] | 0x20 // lower case
		if c < 'a' || c > 'z' {
			return 0
		}
		n = n*26 + int(c-'a') + 1
	}
	return n
}

// partPath is the zip path of a relationship's target t, relative to the
// part at wbPath or, with a leading slash, to the package root.
func partPath(wbPath, t string) string {
	if strings.HasPrefix(t, "/") {
		return strings.TrimPrefix(path.Clean(t), "/")
	}
	return path.Join(path.Dir(wbPath), t)
}
