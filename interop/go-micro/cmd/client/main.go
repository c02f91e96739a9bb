// client calls a service endpoint through go-micro's client, JSON codec:
//
//	client [-timeout 5s] [-retries n] [-address host:port] [-n 1] [-H k=v] [-stream] SERVICE ENDPOINT JSON
//
// On success it prints the JSON response on stdout and exits 0. When the call
// fails it prints the go-micro error as JSON ({id,code,detail,status}, via
// errors.FromError, i.e. what errors.Parse makes of it) and exits 1. Usage
// errors exit 2.
//
// With -stream, JSON is an array of messages sent one at a time on a go-micro
// stream; after each, -recv responses (default 1) are read and printed as JSON
// lines (ping-pong: go-micro's server corrupts several quick sends, see
// README). Then the stream is closed: go-micro's client cannot half-close
// (CloseSend returns "streamer not implemented"); Close sends the EOS message.
// If the stream ends early (EOF) the program stops; a stream error is printed
// as the last line and exits 1.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"io"
	"os"
	"time"

	"go-micro.dev/v5/client"
	"go-micro.dev/v5/errors"
	"go-micro.dev/v5/metadata"

	"github.com/micro-ts/interop/go-micro/internal/mu"
)

func main() {
	timeout := flag.Duration("timeout", 0, "request timeout (client.WithRequestTimeout); 0 keeps go-micro's default")
	retries := flag.Int("retries", -1, "client.WithRetries; -1 keeps the default (MICRO_CLIENT_RETRIES or 5)")
	address := flag.String("address", "", "call this host:port directly (client.WithAddress), bypassing the registry")
	stream := flag.Bool("stream", false, "open a stream; JSON is an array of messages to send")
	n := flag.Int("n", 1, "make the call n times (one JSON line each); stops at the first error")
	recv := flag.Int("recv", 1, "with -stream: how many responses to read after each message")
	md := mu.Headers{}
	flag.Var(md, "H", "metadata k=v sent with the call (repeatable)")
	flag.Parse()
	if flag.NArg() != 3 {
		mu.Fatal(2, "usage: client [flags] SERVICE ENDPOINT JSON")
	}
	service, endpoint, body := flag.Arg(0), flag.Arg(1), flag.Arg(2)
	if !json.Valid([]byte(body)) {
		mu.Fatal(2, "request is not valid JSON: %s", body)
	}

	svc := mu.NewService("interop.client")
	c := svc.Client()

	var opts []client.CallOption
	if *timeout > 0 {
		opts = append(opts, client.WithRequestTimeout(*timeout))
	}
	if *retries >= 0 {
		opts = append(opts, client.WithRetries(*retries))
	}
	if *address != "" {
		opts = append(opts, client.WithAddress(*address))
	}
	ctx := context.Background()
	if len(md) > 0 {
		ctx = metadata.NewContext(ctx, metadata.Metadata(md))
	}

	if *stream {
		os.Exit(runStream(ctx, c, service, endpoint, body, *recv, opts))
	}

	req := c.NewRequest(service, endpoint, json.RawMessage(body), client.WithContentType("application/json"))
	for i := 0; i < *n; i++ {
		var rsp json.RawMessage
		if err := c.Call(ctx, req, &rsp, opts...); err != nil {
			mu.PrintJSON(errors.FromError(err))
			os.Exit(1)
		}
		mu.PrintJSON(rsp)
	}
}

func runStream(ctx context.Context, c client.Client, service, endpoint, body string, recv int, opts []client.CallOption) int {
	var msgs []json.RawMessage
	if err := json.Unmarshal([]byte(body), &msgs); err != nil {
		mu.Fatal(2, "-stream needs a JSON array: %v", err)
	}
	req := c.NewRequest(service, endpoint, &struct{}{}, client.WithContentType("application/json"), client.StreamingRequest())
	st, err := c.Stream(ctx, req, opts...)
	if err != nil {
		mu.PrintJSON(errors.FromError(err))
		return 1
	}
	defer st.Close()
	done := make(chan int, 1)
	go func() {
		for _, m := range msgs {
			if err := st.Send(m); err != nil {
				mu.PrintJSON(errors.FromError(err))
				done <- 1
				return
			}
			for i := 0; i < recv; i++ {
				var rsp json.RawMessage
				if err := st.Recv(&rsp); err != nil {
					if err == io.EOF {
						done <- 0
						return
					}
					mu.PrintJSON(errors.FromError(err))
					done <- 1
					return
				}
				mu.PrintJSON(rsp)
			}
		}
		done <- 0
	}()
	select {
	case code := <-done:
		return code
	case <-time.After(30 * time.Second):
		mu.PrintJSON(errors.Timeout("interop.client", "stream: no response within 30s"))
		return 1
	}
}
