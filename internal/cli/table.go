package cli

import (
	"bytes"
	"io"
	"math"
	"os"
	"sort"
	"strings"

	"golang.org/x/term"
	"golang.org/x/text/width"
)

// The AWS CLI's table layout, a port of awscli/formatter.py's
// TableFormatter and awscli/table.py's MultiTable: one section per object
// or list of objects, titled with the member's name (the operation's for
// the top), scalars as columns under sorted headers, nested values as
// indented sections below; a table wider than the terminal (80 columns
// when not a terminal) turns its one-row sections vertical.

// tableStyler colours a table as --color asks.
type tableStyler struct{ color bool }

// tableStyle reads --color: on, off, or auto (colour on a terminal).
func tableStyle(color string, w io.Writer) tableStyler {
	switch color {
	case "on":
		return tableStyler{true}
	case "off":
		return tableStyler{false}
	}
	return tableStyler{isTerminal(w)}
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

func terminalWidth(w io.Writer) int {
	if f, ok := w.(*os.File); ok {
		if cols, _, err := term.GetSize(int(f.Fd())); err == nil && cols > 0 {
			return cols
		}
	}
	return 80
}

func (s tableStyler) row(text string) string {
	if !s.color {
		return text
	}
	return "\x1b[1m\x1b[34m" + text + "\x1b[0m"
}

func (s tableStyler) indent(text string) string {
	if !s.color {
		return text
	}
	return "\x1b[2m\x1b[33m" + text + "\x1b[0m"
}

type tableSection struct {
	title     string
	headers   []string
	rows      [][]string
	indent    int
	maxWidths []int
}

func (s *tableSection) updateWidths(row []string) {
	if len(s.maxWidths) == 0 {
		for _, e := range row {
			s.maxWidths = append(s.maxWidths, textLen(e))
		}
		return
	}
	for i, e := range row {
		if i < len(s.maxWidths) {
			s.maxWidths[i] = max(s.maxWidths[i], textLen(e))
		}
	}
}

func (s *tableSection) addHeader(h []string) {
	s.updateWidths(h)
	s.headers = h
}

func (s *tableSection) addRow(row []any) {
	r := make([]string, len(row))
	for i, e := range row {
		r[i] = pyStr(e)
	}
	s.rows = append(s.rows, r)
	s.updateWidths(r)
}

// columnWidths scales the columns (each padded) to maxWidth, rounding
// as Python does (half to even) and spreading the difference.
func (s *tableSection) columnWidths(padding, maxWidth int) []int {
	widths := make([]int, len(s.maxWidths))
	sum := 0
	for i, w := range s.maxWidths {
		widths[i] = w + padding
		sum += widths[i]
	}
	if maxWidth < 0 || len(widths) == 0 {
		return widths
	}
	scale := float64(maxWidth) / float64(sum)
	off := -maxWidth
	for i, w := range widths {
		widths[i] = int(math.RoundToEven(scale * float64(w)))
		off += widths[i]
	}
	for guard := 0; off != 0 && guard < 1000; guard++ {
		n := len(widths)
		for k := 0; k < n && off != 0; k++ {
			i := k
			if off < 0 {
				i = n - 1 - k
			}
			if off > 0 {
				widths[i]--
				off--
			} else {
				widths[i]++
				off++
			}
		}
	}
	return widths
}

func (s *tableSection) totalWidth(padding, outer int) int {
	total := 0
	for _, w := range s.columnWidths(0, -1) {
		total += w + padding
	}
	total += 2 + 2*outer
	return max(textLen(s.title)+2+2*outer, total)
}

// textLen counts wide (East Asian) characters twice, as the AWS CLI.
func textLen(s string) int {
	n := 0
	for _, r := range s {
		switch width.LookupRune(r).Kind() {
		case width.EastAsianWide, width.EastAsianFullwidth, width.EastAsianAmbiguous:
			n += 2
		default:
			n++
		}
	}
	return n
}

type tableBuilder struct {
	sections []*tableSection
	cur      *tableSection
}

func (t *tableBuilder) newSection(title string, indent int) {
	t.cur = &tableSection{title: title, indent: indent}
	t.sections = append(t.sections, t.cur)
}

func truthy(v any) bool {
	switch x := v.(type) {
	case nil:
		return false
	case ordered:
		return len(x) > 0
	case []any:
		return len(x) > 0
	case string:
		return x != ""
	case bool:
		return x
	case int64:
		return x != 0
	case float64:
		return x != 0
	}
	return true
}

func (t *tableBuilder) build(title string, hasTitle bool, v any, indent int) bool {
	if !truthy(v) {
		return false
	}
	if hasTitle {
		t.newSection(title, indent)
	}
	switch x := v.(type) {
	case []any:
		if _, ok := x[0].(ordered); ok {
			t.subTableFromList(x, indent, title)
			break
		}
		for _, item := range x {
			switch e := item.(type) {
			case []any:
				all := true
				for _, el := range e {
					all = all && isScalar(el)
				}
				if all {
					t.addRow(e)
				} else {
					t.build("", false, e, 0)
				}
			case ordered:
				t.build("", false, e, 0)
			default:
				t.addRow([]any{e})
			}
		}
	case ordered:
		t.subTableFromDict(x, indent)
	}
	return true
}

func (t *tableBuilder) addRow(row []any) {
	if t.cur == nil {
		t.newSection("", 0)
	}
	t.cur.addRow(row)
}

func groupScalarKeys(o ordered) (headers, more []string) {
	for _, m := range o {
		if isScalar(m.value) {
			headers = append(headers, m.key)
		} else {
			more = append(more, m.key)
		}
	}
	sort.Strings(headers)
	sort.Strings(more)
	return headers, more
}

func (t *tableBuilder) subTableFromDict(o ordered, indent int) {
	headers, more := groupScalarKeys(o)
	if len(headers) == 1 {
		v, _ := o.get(headers[0])
		t.addRow([]any{headers[0], v})
	} else if len(headers) > 0 {
		t.cur.addHeader(headers)
		row := make([]any, len(headers))
		for i, h := range headers {
			row[i], _ = o.get(h)
		}
		t.addRow(row)
	}
	for _, k := range more {
		v, _ := o.get(k)
		t.build(k, true, v, indent+1)
	}
}

func (t *tableBuilder) subTableFromList(list []any, indent int, title string) {
	hs, ms := map[string]bool{}, map[string]bool{}
	for _, e := range list {
		o, _ := e.(ordered)
		h, m := groupScalarKeys(o)
		for _, k := range h {
			hs[k] = true
		}
		for _, k := range m {
			ms[k] = true
		}
	}
	headers, more := sortedKeys(hs), sortedKeys(ms)
	t.cur.addHeader(headers)
	for i, e := range list {
		o, _ := e.(ordered)
		if i > 0 && len(more) > 0 {
			t.newSection(title, indent)
			t.cur.addHeader(headers)
		}
		row := make([]any, len(headers))
		for j, h := range headers {
			if v, ok := o.get(h); ok {
				row[j] = v
			} else {
				row[j] = ""
			}
		}
		t.addRow(row)
		for _, k := range more {
			if v, ok := o.get(k); ok {
				t.build(k, true, v, indent+1)
			}
		}
	}
}

func sortedKeys(m map[string]bool) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// writeTableWidth lays v out as the AWS CLI's table titled title, for a
// terminal termWidth columns wide.
func writeTableWidth(b *bytes.Buffer, title string, v any, st tableStyler, termWidth int) {
	var t tableBuilder
	if !t.build(title, true, v, 0) {
		return
	}
	maxWidth := t.maxWidth()
	if maxWidth > termWidth {
		for i, s := range t.sections {
			if len(s.rows) == 1 && len(s.headers) > 0 {
				ns := &tableSection{title: s.title, indent: s.indent}
				for j, h := range s.headers {
					if j < len(s.rows[0]) {
						ns.addRow([]any{h, s.rows[0][j]})
					}
				}
				t.sections[i] = ns
			}
		}
		maxWidth = t.maxWidth()
	}
	b.WriteString(strings.Repeat("-", maxWidth) + "\n")
	for _, s := range t.sections {
		renderSection(b, s, maxWidth, st)
	}
}

func (t *tableBuilder) maxWidth() int {
	m := 0
	for _, s := range t.sections {
		m = max(m, s.totalWidth(4, s.indent))
	}
	return m
}

// renderSection writes one section, each line framed by its indentation's
// bars.
func renderSection(b *bytes.Buffer, s *tableSection, maxWidth int, st tableStyler) {
	bar := st.indent("|")
	line := func(text string) {
		b.WriteString(strings.Repeat(bar, s.indent))
		b.WriteString(text)
		b.WriteString(strings.Repeat(bar, s.indent))
		b.WriteByte('\n')
	}
	maxWidth -= s.indent * 2
	if s.title != "" {
		line(centerText(s.title, maxWidth, "|", "|", textLen(s.title)))
		if len(s.headers) == 0 && len(s.rows) == 0 {
			line("+" + strings.Repeat("-", maxWidth-2) + "+")
		}
	}
	lineBreak := func(widths []int) {
		var p strings.Builder
		for i, w := range widths {
			if i == 0 {
				p.WriteString("+" + strings.Repeat("-", max(w-2, 0)) + "+")
			} else {
				p.WriteString(strings.Repeat("-", max(w-1, 0)) + "+")
			}
		}
		line(p.String())
	}
	if len(s.headers) > 0 {
		widths := s.columnWidths(4, maxWidth)
		var cur strings.Builder
		for i, h := range s.headers {
			if i >= len(widths) {
				break
			}
			left := ""
			if i == 0 {
				left = "|"
			}
			cur.WriteString(centerText(h, widths[i], left, "|", textLen(h)))
		}
		lineBreak(widths)
		line(cur.String())
	}
	if len(s.rows) == 0 {
		return
	}
	widths := s.columnWidths(4, maxWidth)
	if len(widths) == 0 {
		return
	}
	lineBreak(widths)
	for _, row := range s.rows {
		var cur strings.Builder
		for i, e := range row {
			if i >= len(widths) {
				break
			}
			left := ""
			if i == 0 {
				left = "|"
			}
			cur.WriteString(alignLeft(st.row(e), widths[i], left, "|", textLen(e)))
		}
		line(cur.String())
	}
	lineBreak(widths)
}

func centerText(text string, length int, left, right string, textLength int) string {
	start := pyFloorDiv(length, 2) - pyFloorDiv(textLength, 2) - 1
	var o strings.Builder
	o.WriteString(left + strings.Repeat(" ", max(start, 0)) + text)
	soFar := textLen(left) + start + textLength
	o.WriteString(strings.Repeat(" ", max(length-textLen(right)-soFar, 0)))
	o.WriteString(right)
	return o.String()
}

func alignLeft(text string, length int, left, right string, textLength int) string {
	padding := 2
	if length-(textLength+2+textLen(left)+textLen(right)) < 0 {
		padding = 0
	}
	soFar := len(left) + padding + textLength
	return left + strings.Repeat(" ", padding) + text + strings.Repeat(" ", max(length-soFar-len(right), 0)) + right
}

func pyFloorDiv(a, b int) int {
	q := a / b
	if (a%b != 0) && ((a < 0) != (b < 0)) {
		q--
	}
	return q
}
