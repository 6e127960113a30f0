package frontdoor

// SetQATestHooks installs the tunnel's test seams (upstream.go) for the
// external tests: firstRecv runs on the agent stream's reader before its
// first read, sendFailed when a send of the client's bytes to the agent
// failed (nil: none). The returned func removes them.
func SetQATestHooks(firstRecv, sendFailed func()) (restore func()) {
	set := func(p *func()) *func() {
		if *p == nil {
			return nil
		}
		return p
	}
	testHookAgentFirstRecv.Store(set(&firstRecv))
	testHookSendFailed.Store(set(&sendFailed))
	return func() {
		testHookAgentFirstRecv.Store(nil)
		testHookSendFailed.Store(nil)
	}
}
