//go:build !unix

package runner

const perVariableLimit = false

// argLimit is 0 where secr does not check: Windows limits the environment
// block differently and reports it clearly.
func argLimit() int { return 0 }
