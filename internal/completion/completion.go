// Package completion writes shell completion scripts (bash, zsh, fish) for
// a command-line program with subcommands.
//
// The caller describes the program as data (Commands with their Flags),
// read from the same flag definitions its -h prints, so completion cannot
// drift from the help. The scripts are static: completing a word runs no
// program, and a flag that takes a value completes file names (a path is
// the most common value: --key-file, --html, --env-file) unless the flag
// lists its values.
package completion

import (
	"errors"
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"
)

// Flag is one flag of a command.
type Flag struct {
	Name   string   // without dashes
	Usage  string   // the first line is used as its description
	Bool   bool     // takes no value
	Values []string // the values it takes, when they are a fixed set
}

// Command is one subcommand with its flags, or a word such as "help"
// whose arguments are Args.
type Command struct {
	Name    string
	Summary string
	Flags   []Flag
	Args    []string // fixed words completed as arguments
}

// Shells are the shells Write knows, in the order help lists them.
func Shells() []string { return []string{"bash", "zsh", "fish"} }

// ErrShell means a shell Write does not know.
var ErrShell = errors.New("unknown shell")

// Write writes the completion script of prog for shell to w.
func Write(w io.Writer, shell, prog string, cmds []Command) error {
	switch shell {
	case "bash":
		return bash(w, prog, cmds)
	case "zsh":
		return zsh(w, prog, cmds)
	case "fish":
		return fish(w, prog, cmds)
	}
	return fmt.Errorf("%w %q: want one of %s", ErrShell, shell, strings.Join(Shells(), ", "))
}

func names(cmds []Command) []string {
	out := make([]string, len(cmds))
	for i, c := range cmds {
		out[i] = c.Name
	}
	return out
}

func ident(prog string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' {
			return r
		}
		return '_'
	}, prog)
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	return s
}

func bash(w io.Writer, prog string, cmds []Command) error {
	fn := "_" + ident(prog)
	var b strings.Builder
	fmt.Fprintf(&b, "# bash completion for %s; load with: source <(%s completion bash)\n", prog, prog)
	fmt.Fprintf(&b, "%s() {\n", fn)
	b.WriteString("  local cur=\"${COMP_WORDS[COMP_CWORD]}\" prev=\"${COMP_WORDS[COMP_CWORD-1]}\"\n")
	b.WriteString("  COMPREPLY=()\n")
	fmt.Fprintf(&b, "  if [[ $COMP_CWORD -eq 1 ]]; then\n    COMPREPLY=($(compgen -W %s -- \"$cur\"))\n    return\n  fi\n",
		shQuote(strings.Join(names(cmds), " ")))
	b.WriteString("  case \"${COMP_WORDS[1]}\" in\n")
	for _, c := range cmds {
		bashCase(&b, c)
	}
	b.WriteString("  esac\n}\n")
	fmt.Fprintf(&b, "complete -o default -F %s %s\n", fn, prog)
	_, err := io.WriteString(w, b.String())
	return err
}

// bashCase writes c's branch of the bash script: after a flag with
// fixed values, those values; after one that takes a value, nothing of
// ours (file names); else c's arguments and flags.
func bashCase(b *strings.Builder, c Command) {
	fmt.Fprintf(b, "  %s)\n", c.Name)
	var valued, all []string
	for _, f := range c.Flags {
		all = append(all, "--"+f.Name)
		if !f.Bool {
			valued = append(valued, "-"+f.Name, "--"+f.Name)
		}
	}
	b.WriteString("    case \"$prev\" in\n")
	for _, f := range c.Flags {
		if len(f.Values) > 0 {
			fmt.Fprintf(b, "    -%s|--%s) COMPREPLY=($(compgen -W %s -- \"$cur\")); return ;;\n",
				f.Name, f.Name, shQuote(strings.Join(f.Values, " ")))
		}
	}
	if len(valued) > 0 {
		// A value: nothing from us; -o default completes file names.
		fmt.Fprintf(b, "    %s) return ;;\n", strings.Join(valued, "|"))
	}
	b.WriteString("    esac\n")
	if words := append(slices.Clone(c.Args), all...); len(words) > 0 {
		fmt.Fprintf(b, "    COMPREPLY=($(compgen -W %s -- \"$cur\"))\n", shQuote(strings.Join(words, " ")))
	}
	b.WriteString("    ;;\n")
}

// shQuote quotes s for a POSIX shell.
func shQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

func zsh(w io.Writer, prog string, cmds []Command) error {
	fn := "_" + ident(prog)
	var b strings.Builder
	fmt.Fprintf(&b, "#compdef %s\n# zsh completion for %s; put in a directory of $fpath as _%s, or: source <(%s completion zsh)\n", prog, prog, prog, prog)
	fmt.Fprintf(&b, "%s() {\n  local -a commands\n  commands=(\n", fn)
	for _, c := range cmds {
		fmt.Fprintf(&b, "    %s\n", shQuote(zshEscape(c.Name)+":"+zshEscape(firstLine(c.Summary))))
	}
	b.WriteString("  )\n  if (( CURRENT == 2 )); then\n    _describe -t commands command commands\n    return\n  fi\n")
	b.WriteString("  case $words[2] in\n")
	for _, c := range cmds {
		fmt.Fprintf(&b, "  %s)\n    _arguments", c.Name)
		for _, f := range c.Flags {
			spec := "--" + f.Name + "[" + zshEscape(firstLine(f.Usage)) + "]"
			switch {
			case f.Bool:
			case len(f.Values) > 0:
				spec += ":" + f.Name + ":(" + strings.Join(f.Values, " ") + ")"
			default:
				spec += ":" + f.Name + ":_files"
			}
			fmt.Fprintf(&b, " \\\n      %s", shQuote(spec))
		}
		if len(c.Args) > 0 {
			fmt.Fprintf(&b, " \\\n      %s", shQuote("*:argument:("+strings.Join(c.Args, " ")+")"))
		} else {
			fmt.Fprintf(&b, " \\\n      %s", shQuote("*:file:_files"))
		}
		b.WriteString("\n    ;;\n")
	}
	b.WriteString("  esac\n}\n")
	// Loaded by compinit from $fpath the function is called; sourced, it
	// registers itself.
	fmt.Fprintf(&b, "if [[ $zsh_eval_context[-1] == loadautofunc ]]; then\n  %s \"$@\"\nelse\n  compdef %s %s\nfi\n", fn, fn, prog)
	_, err := io.WriteString(w, b.String())
	return err
}

// zshEscape escapes what _arguments and _describe treat specially in a
// description: brackets and colons.
func zshEscape(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `[`, `\[`, `]`, `\]`, `:`, `\:`)
	return r.Replace(s)
}

func fish(w io.Writer, prog string, cmds []Command) error {
	var b strings.Builder
	fmt.Fprintf(&b, "# fish completion for %s; load with: %s completion fish | source\n", prog, prog)
	fmt.Fprintf(&b, "complete -c %s -f\n", prog)
	all := strings.Join(names(cmds), " ")
	for _, c := range cmds {
		fmt.Fprintf(&b, "complete -c %s -n %s -a %s -d %s\n", prog, fishQuote("not __fish_seen_subcommand_from "+all), fishQuote(c.Name), fishQuote(firstLine(c.Summary)))
	}
	for _, c := range cmds {
		cond := fishQuote("__fish_seen_subcommand_from " + c.Name)
		flags := append([]Flag(nil), c.Flags...)
		sort.SliceStable(flags, func(i, j int) bool { return flags[i].Name < flags[j].Name })
		for _, f := range flags {
			fmt.Fprintf(&b, "complete -c %s -n %s -l %s -d %s", prog, cond, fishQuote(f.Name), fishQuote(firstLine(f.Usage)))
			switch {
			case f.Bool:
			case len(f.Values) > 0:
				fmt.Fprintf(&b, " -x -a %s", fishQuote(strings.Join(f.Values, " ")))
			default:
				b.WriteString(" -r -F")
			}
			b.WriteString("\n")
		}
		if len(c.Args) > 0 {
			fmt.Fprintf(&b, "complete -c %s -n %s -a %s\n", prog, cond, fishQuote(strings.Join(c.Args, " ")))
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// fishQuote quotes s for fish: inside single quotes only \ and ' are
// special.
func fishQuote(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(s) + "'"
}
