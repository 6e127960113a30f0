package cli

import (
	"fmt"
	"io"
	"reflect"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// The help of an SDK operation, laid out as the AWS CLI's: the
// operation's description, then each option with its type, description
// and, for structures, lists and maps, the shorthand syntax.

// helpWidth is the width help text is wrapped to.
const helpWidth = 79

// awsType names a Go input type as the AWS CLI's help does.
func awsType(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.String:
		return "string"
	case reflect.Bool:
		return "boolean"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return "integer"
	case reflect.Float32, reflect.Float64:
		return "double"
	case reflect.Slice:
		if t.Elem().Kind() == reflect.Uint8 {
			return "blob"
		}
		return "list"
	case reflect.Map:
		return "map"
	case reflect.Struct:
		if t == timeType {
			return "timestamp"
		}
		return "structure"
	}
	return t.Kind().String()
}

// shorthandSyntax is the AWS CLI's "Shorthand Syntax" for a parameter of
// type t, or "" for a scalar.
func shorthandSyntax(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch {
	case t.Kind() == reflect.Slice && t.Elem().Kind() != reflect.Uint8:
		e := t.Elem()
		for e.Kind() == reflect.Pointer {
			e = e.Elem()
		}
		if isStructure(e) {
			return members(e, 0) + " ..."
		}
		if e.Kind() == reflect.Map {
			return "KeyName1=string,KeyName2=string ..."
		}
		return awsType(e) + " " + awsType(e) + " ..."
	case t.Kind() == reflect.Map:
		return "KeyName1=" + awsType(t.Elem()) + ",KeyName2=" + awsType(t.Elem())
	case isStructure(t):
		return members(t, 0)
	}
	return ""
}

func isStructure(t reflect.Type) bool { return t.Kind() == reflect.Struct && t != timeType }

// members is a structure's shorthand: Name=string,Values=string,string.
// Nesting is shown to depth 2, as deeper shorthand is rarely typed.
func members(t reflect.Type, depth int) string {
	var parts []string
	for i := 0; i < t.NumField(); i++ {
		sf := t.Field(i)
		if !sf.IsExported() {
			continue
		}
		ft := sf.Type
		for ft.Kind() == reflect.Pointer {
			ft = ft.Elem()
		}
		var v string
		switch {
		case ft.Kind() == reflect.Slice && ft.Elem().Kind() != reflect.Uint8:
			e := ft.Elem()
			for e.Kind() == reflect.Pointer {
				e = e.Elem()
			}
			if isStructure(e) {
				inner := "..."
				if depth < 2 {
					inner = members(e, depth+1)
				}
				v = "[{" + inner + "},{" + inner + "}]"
			} else {
				v = awsType(e) + "," + awsType(e)
			}
		case isStructure(ft):
			inner := "..."
			if depth < 2 {
				inner = members(ft, depth+1)
			}
			v = "{" + inner + "}"
		case ft.Kind() == reflect.Map:
			v = "{KeyName1=" + awsType(ft.Elem()) + ",KeyName2=" + awsType(ft.Elem()) + "}"
		default:
			v = awsType(ft)
		}
		parts = append(parts, sf.Name+"="+v)
	}
	return strings.Join(parts, ",")
}

// firstSentence is the first sentence of a description, for one-line
// listings.
func firstSentence(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	if i := strings.Index(s, ". "); i >= 0 {
		s = s[:i+1]
	}
	return s
}

// wrap writes text wrapped to helpWidth, each line indented by indent;
// text has one paragraph or list item per line.
func wrap(w io.Writer, text, indent string) {
	for _, para := range strings.Split(text, "\n") {
		if strings.TrimSpace(para) == "" {
			fmt.Fprintln(w)
			continue
		}
		// List items and link definitions keep their own indentation,
		// and a list item's next lines stand under its text.
		body := strings.TrimLeft(para, " ")
		prefix := indent + para[:len(para)-len(body)]
		cont := prefix
		if strings.HasPrefix(body, "- ") {
			cont += "  "
		}
		line := ""
		for _, word := range strings.Fields(body) {
			switch {
			case line == "":
				line = word
			case len(prefix)+len(line)+1+len(word) > helpWidth:
				fmt.Fprintln(w, prefix+line)
				prefix, line = cont, word
			default:
				line += " " + word
			}
		}
		fmt.Fprintln(w, prefix+line)
	}
}

// operationHelp prints an SDK operation's help: description, synopsis,
// options (type, description, shorthand) and the global options.
func operationHelp(cmd *cobra.Command, doc opDoc, fields []field) {
	w := cmd.OutOrStdout()
	fmt.Fprintln(w, "NAME")
	fmt.Fprintf(w, "  %s -\n\n", cmd.Name())
	fmt.Fprintln(w, "DESCRIPTION")
	description := doc.Doc
	if description == "" {
		description = cmd.Short
	}
	wrap(w, description, "  ")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "SYNOPSIS")
	fmt.Fprintf(w, "  %s\n", cmd.CommandPath())
	byName := map[string]field{}
	for _, f := range fields {
		byName[f.name] = f
	}
	var options []string
	cmd.LocalNonPersistentFlags().VisitAll(func(fl *pflag.Flag) {
		if fl.Name == "help" || fl.Hidden || strings.HasPrefix(fl.Name, "no-") && byName[strings.TrimPrefix(fl.Name, "no-")].isBool {
			return
		}
		options = append(options, fl.Name)
		if f, ok := byName[fl.Name]; ok && f.isBool {
			fmt.Fprintf(w, "  [--%s | --no-%s]\n", fl.Name, fl.Name)
			return
		}
		if fl.Value.Type() == "bool" {
			fmt.Fprintf(w, "  [--%s]\n", fl.Name)
			return
		}
		fmt.Fprintf(w, "  [--%s <value>]\n", fl.Name)
	})
	fmt.Fprintln(w)
	fmt.Fprintln(w, "OPTIONS")
	for _, name := range options {
		fl := cmd.Flags().Lookup(name)
		f, ok := byName[name]
		if !ok { // the paging and customization options: their own usage
			fmt.Fprintf(w, "  --%s (%s)\n", name, flagType(fl))
			wrap(w, fl.Usage, "      ")
			fmt.Fprintln(w)
			continue
		}
		fmt.Fprintf(w, "  --%s (%s)\n", name, awsType(f.typ))
		if f.doc != "" {
			wrap(w, f.doc, "      ")
		}
		if s := shorthandSyntax(f.typ); s != "" {
			fmt.Fprintln(w)
			fmt.Fprintln(w, "      Shorthand Syntax:")
			fmt.Fprintln(w)
			fmt.Fprintf(w, "          %s\n", s) // one line, as typed
		}
		fmt.Fprintln(w)
	}
	if g := cmd.InheritedFlags().FlagUsagesWrapped(helpWidth); g != "" {
		fmt.Fprintln(w, "GLOBAL OPTIONS")
		fmt.Fprint(w, g)
	}
}

// flagType names a hand-made option's type as the AWS CLI's help does.
func flagType(fl *pflag.Flag) string {
	switch t := fl.Value.Type(); {
	case t == "bool":
		return "boolean"
	case strings.HasPrefix(t, "int") || strings.HasPrefix(t, "uint"):
		return "integer"
	case strings.HasSuffix(t, "Slice") || strings.HasSuffix(t, "Array"):
		return "list"
	default:
		return t
	}
}

// helpCommand is `postern help [COMMAND…]`: the command's help, and, as
// `aws help ec3`, a usage error with suggestions (exit 252) for a word
// that is no command (cobra's own printed "Unknown help topic" and the
// root's usage, exit 0).
func helpCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "help [command]",
		Short: "Help about any command",
		Long:  "Help provides help for any command in the application; `postern help ec2 describe-vpcs` is `postern ec2 describe-vpcs help`.",
		ValidArgsFunction: func(c *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
			cmd, _, err := c.Root().Find(args)
			if err != nil || cmd == nil {
				return nil, cobra.ShellCompDirectiveNoFileComp
			}
			var out []string
			for _, sub := range cmd.Commands() {
				if sub.IsAvailableCommand() && strings.HasPrefix(sub.Name(), toComplete) {
					out = append(out, sub.Name()+"\t"+sub.Short)
				}
			}
			return out, cobra.ShellCompDirectiveNoFileComp
		},
		RunE: func(c *cobra.Command, args []string) error {
			cmd, rest, err := c.Root().Find(args)
			if err != nil {
				return usageErr("%s", suggestFor(err.Error(), c.Root(), args))
			}
			if len(rest) > 0 {
				if err := unknownOperation(cmd.Name(), nil)(cmd, rest[:1]); err != nil {
					return err
				}
			}
			cmd.InitDefaultHelpFlag()
			cmd.InitDefaultVersionFlag()
			return cmd.Help()
		},
	}
}

// suggestFor is cobra's refusal of an unknown first word, with the
// root's commands it may have meant (cobra adds them only on its own
// path).
func suggestFor(msg string, root *cobra.Command, args []string) string {
	if len(args) == 0 || strings.Contains(msg, "Did you mean") {
		return msg
	}
	if root.SuggestionsMinimumDistance <= 0 {
		root.SuggestionsMinimumDistance = 2
	}
	if s := root.SuggestionsFor(args[0]); len(s) > 0 {
		msg += "\n\nDid you mean this?\n\t" + strings.Join(s, "\n\t") + "\n"
	}
	return msg
}
