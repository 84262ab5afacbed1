//go:build !unix

package trust

func cpuTime() float64 { return -1 }
