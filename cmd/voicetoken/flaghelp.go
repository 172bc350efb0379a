package main

import (
	"flag"
	"fmt"
	"io"
)

// flagGroup is a titled section of a command's flags in its -h.
type flagGroup struct {
	title string
	flags []string
}

// printFlags prints fs's flags as flag.PrintDefaults does, group by group;
// flags in no group come last under "Flags:" (or "Other flags:").
func printFlags(w io.Writer, fs *flag.FlagSet, groups []flagGroup) {
	seen := map[string]bool{}
	for _, g := range groups {
		section := flag.NewFlagSet(fs.Name(), flag.ContinueOnError)
		for _, name := range g.flags {
			if f := fs.Lookup(name); f != nil && !seen[name] {
				seen[name] = true
				section.Var(f.Value, f.Name, f.Usage)
				section.Lookup(name).DefValue = f.DefValue
			}
		}
		printSection(w, g.title, section)
	}
	rest := flag.NewFlagSet(fs.Name(), flag.ContinueOnError)
	fs.VisitAll(func(f *flag.Flag) {
		if !seen[f.Name] {
			rest.Var(f.Value, f.Name, f.Usage)
			rest.Lookup(f.Name).DefValue = f.DefValue
		}
	})
	title := "Flags"
	if len(groups) > 0 {
		title = "Other flags"
	}
	printSection(w, title, rest)
}

// printSection prints one titled group, in the standard format (so the
// order is alphabetical inside a group and "-name value" shows the type).
func printSection(w io.Writer, title string, fs *flag.FlagSet) {
	n := 0
	fs.VisitAll(func(*flag.Flag) { n++ })
	if n == 0 {
		return
	}
	fmt.Fprintf(w, "%s:\n", title)
	fs.SetOutput(w)
	fs.PrintDefaults()
	fmt.Fprintln(w)
}
