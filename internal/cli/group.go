package cli

import (
	"strings"

	"github.com/spf13/cobra"
)

// groupCmd is a command that only holds subcommands (secrets, tokens, ...).
// Cobra would print the help and exit 0 for a mistyped subcommand, so a CI
// step such as 'secr tokens delete ID' would pass while doing nothing: an
// unknown subcommand is a usage error, with the closest names suggested.
func groupCmd(use, short, long string, subs ...*cobra.Command) *cobra.Command {
	c := &cobra.Command{
		Use:   use,
		Short: short,
		Long:  long,
		Args:  cobra.ArbitraryArgs,
		RunE: func(c *cobra.Command, args []string) error {
			if len(args) == 0 {
				return c.Help()
			}
			msg := "unknown command %q for %q"
			if s := c.SuggestionsFor(args[0]); len(s) > 0 {
				return usageErrorf(msg+"; did you mean %s? (see '%s --help')", args[0], c.CommandPath(), strings.Join(s, " or "), c.CommandPath())
			}
			return usageErrorf(msg+" (see '%s --help')", args[0], c.CommandPath(), c.CommandPath())
		},
	}
	c.SuggestionsMinimumDistance = 2
	c.AddCommand(subs...)
	return c
}
