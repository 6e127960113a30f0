package pgtest

import "syscall"

// setParentDeathSignal has the kernel send sig to the child when the
// thread that started it exits (PR_SET_PDEATHSIG). Go sets it after the
// child's credentials, so it survives the switch to the postgres user.
func setParentDeathSignal(a *syscall.SysProcAttr, sig syscall.Signal) { a.Pdeathsig = sig }
