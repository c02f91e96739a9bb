// Package mu holds what every interop program shares: building a go-micro
// service whose plugins come only from go-micro's own MICRO_* variables, and
// printing JSON lines.
package mu

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"

	micro "go-micro.dev/v5"
	// go-micro's cmd does not register its gRPC transport; the package's init does
	// (cmd.DefaultTransports["grpc"]), which makes MICRO_TRANSPORT=grpc work as it
	// does in any go-micro program that imports it.
	_ "go-micro.dev/v5/transport/grpc"
)

// NewService builds a go-micro service configured the way go-micro users
// configure one: MICRO_REGISTRY, MICRO_BROKER, MICRO_TRANSPORT and friends.
// go-micro's cmd parses os.Args as its own flags, so our programs parse
// theirs first (package flag) and hide them from it here; only the
// environment then reaches go-micro. go-micro logs to stderr (level from
// MICRO_LOG_LEVEL), which leaves stdout for our JSON lines.
func NewService(name string, opts ...micro.Option) micro.Service {
	args := os.Args
	os.Args = args[:1]
	defer func() { os.Args = args }()
	svc := micro.New(name, opts...)
	svc.Init()
	return svc
}

// PrintJSON writes v as one JSON line on stdout.
func PrintJSON(v any) {
	b, err := json.Marshal(v)
	if err != nil {
		Fatal(2, "marshal: %v", err)
	}
	fmt.Fprintln(os.Stdout, string(b))
}

// Fatal prints a message on stderr and exits with code.
func Fatal(code int, format string, a ...any) {
	fmt.Fprintf(os.Stderr, format+"\n", a...)
	os.Exit(code)
}

// Headers collects repeatable -H k=v flags (a value may contain '=').
type Headers map[string]string

func (h Headers) String() string { return "" }

// Set adds one k=v pair; a bare k gets an empty value.
func (h Headers) Set(v string) error {
	k, val, _ := strings.Cut(v, "=")
	h[k] = val
	return nil
}
