//go:build postern_client

// The client build (-tags postern_client) sizes GOMAXPROCS from the
// machine's CPUs, as Go did before 1.25, instead of reading the cgroup's
// CPU limit at every start: a short client process (ssh's ProxyCommand
// runs one per connection) saves the cgroup files' reads, 0.2–0.4 ms of
// CPU per process here. The server and the agent (the full build) keep
// the cgroup-aware default for containers; GOMAXPROCS in the environment
// still wins in both.

//go:debug containermaxprocs=0

package main
