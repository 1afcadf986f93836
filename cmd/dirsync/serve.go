package main

func (e *env) cmdServe(args []string) error {
	return usagef("serve: not built yet")
}
