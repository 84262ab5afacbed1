//go:build !unix

package scan

// syscallNoFollow is 0 where there is no O_NOFOLLOW; the Lstat checks still
// refuse symbolic links.
const syscallNoFollow = 0
