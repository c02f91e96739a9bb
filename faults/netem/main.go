// Command tun-netem joins two TUN devices and forwards the IP packets between them with a delay,
// a loss rate and a partition switch: the part of `tc netem` the fault suite needs, for kernels
// built without sch_netem. The suite moves one device into each of its network namespaces; the
// kernel then routes their traffic through this process.
//
//	tun-netem <client-device> <server-device>
//
// Commands on stdin, one per line, each answered "ok" (or "error ...") on stdout:
//
//	delay <ms>        added to every packet, each way
//	loss <percent>    of the packets dropped, each way
//	partition on|off  drop everything, each way
package main

import (
	"bufio"
	"fmt"
	"math/rand"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"
)

const (
	iffTun    = 0x0001
	iffNoPi   = 0x1000
	tunSetIff = 0x400454ca
)

type ifreq struct {
	name  [16]byte
	flags uint16
	_     [22]byte
}

func openTun(name string) (*os.File, error) {
	fd, err := syscall.Open("/dev/net/tun", syscall.O_RDWR|syscall.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("open /dev/net/tun: %w", err)
	}
	var req ifreq
	copy(req.name[:], name)
	req.flags = iffTun | iffNoPi
	if _, _, e := syscall.Syscall(syscall.SYS_IOCTL, uintptr(fd), tunSetIff, uintptr(unsafe.Pointer(&req))); e != 0 {
		syscall.Close(fd)
		return nil, fmt.Errorf("TUNSETIFF %s: %w", name, e)
	}
	return os.NewFile(uintptr(fd), name), nil
}

// The impairment, read by both directions for every packet.
var (
	delayNs     atomic.Int64
	lossPerMil  atomic.Int64
	partitioned atomic.Bool
)

type packet struct {
	due  time.Time
	data []byte
}

// forward reads packets from `in` and writes them to `out` after the delay, in order, dropping
// what the loss rate or a partition says to drop.
func forward(in, out *os.File) {
	queue := make(chan packet, 65536)
	go func() {
		for p := range queue {
			if d := time.Until(p.due); d > 0 {
				time.Sleep(d)
			}
			out.Write(p.data) // a full or vanished device drops the packet, as a link would
		}
	}()
	buf := make([]byte, 65536)
	for {
		n, err := in.Read(buf)
		if err != nil {
			// The device is down or moving between namespaces: wait for it.
			time.Sleep(10 * time.Millisecond)
			continue
		}
		if partitioned.Load() || rand.Int63n(1000) < lossPerMil.Load() {
			continue
		}
		data := make([]byte, n)
		copy(data, buf[:n])
		select {
		case queue <- packet{due: time.Now().Add(time.Duration(delayNs.Load())), data: data}:
		default: // queue full: dropped
		}
	}
}

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: tun-netem <client-device> <server-device>")
		os.Exit(2)
	}
	a, err := openTun(os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	b, err := openTun(os.Args[2])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	go forward(a, b)
	go forward(b, a)
	fmt.Println("ready")
	lines := bufio.NewScanner(os.Stdin)
	for lines.Scan() {
		f := strings.Fields(lines.Text())
		if len(f) != 2 {
			fmt.Println("error: expected `delay <ms>`, `loss <percent>` or `partition on|off`")
			continue
		}
		switch f[0] {
		case "delay":
			ms, err := strconv.ParseFloat(f[1], 64)
			if err != nil || ms < 0 {
				fmt.Println("error: bad delay", f[1])
				continue
			}
			delayNs.Store(int64(ms * 1e6))
		case "loss":
			pct, err := strconv.ParseFloat(f[1], 64)
			if err != nil || pct < 0 || pct > 100 {
				fmt.Println("error: bad loss", f[1])
				continue
			}
			lossPerMil.Store(int64(pct * 10))
		case "partition":
			partitioned.Store(f[1] == "on")
		default:
			fmt.Println("error: unknown command", f[0])
			continue
		}
		fmt.Println("ok")
	}
	// stdin closed: the suite is done with the link.
}
