// nsforward makes the local node's API server reachable from the host's loopback: it listens on
// a 127.0.0.1 address of the host and, for each connection, dials the target address from inside
// the node's network namespace (setns on a locked OS thread), then copies bytes both ways.
// The host gets no interface, route or firewall rule for this.
//
//	nsforward -netns /proc/<pid>/ns/net -listen 127.0.0.1:6443 -target 10.245.0.1:6443
package main

import (
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"runtime"
	"syscall"

	"golang.org/x/sys/unix"
)

func main() {
	netns := flag.String("netns", "", "path of the network namespace to dial from (e.g. /proc/<pid>/ns/net)")
	listen := flag.String("listen", "127.0.0.1:0", "host address to listen on (loopback)")
	target := flag.String("target", "", "address to dial inside the namespace")
	flag.Parse()
	if *netns == "" || *target == "" {
		fmt.Fprintln(os.Stderr, "nsforward: -netns and -target are required")
		os.Exit(2)
	}
	ns, err := os.Open(*netns)
	if err != nil {
		fmt.Fprintf(os.Stderr, "nsforward: %v\n", err)
		os.Exit(1)
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		fmt.Fprintf(os.Stderr, "nsforward: %v\n", err)
		os.Exit(1)
	}
	fmt.Printf("nsforward: %s -> %s in %s\n", ln.Addr(), *target, *netns)
	go func() {
		s := make(chan os.Signal, 1)
		signal.Notify(s, syscall.SIGINT, syscall.SIGTERM)
		<-s
		os.Exit(0)
	}()
	for {
		c, err := ln.Accept()
		if err != nil {
			fmt.Fprintf(os.Stderr, "nsforward: %v\n", err)
			os.Exit(1)
		}
		go serve(c, ns, *target)
	}
}

// dialIn opens a TCP connection from inside the namespace: the socket belongs to the namespace
// it was created in, whatever thread later uses it.
func dialIn(ns *os.File, target string) (net.Conn, error) {
	errs := make(chan error, 1)
	conns := make(chan net.Conn, 1)
	go func() {
		runtime.LockOSThread()
		// Never unlocked: the thread is left in the other namespace and exits with the goroutine.
		if err := unix.Setns(int(ns.Fd()), unix.CLONE_NEWNET); err != nil {
			errs <- fmt.Errorf("setns: %w", err)
			return
		}
		c, err := net.Dial("tcp", target)
		if err != nil {
			errs <- err
			return
		}
		conns <- c
	}()
	select {
	case err := <-errs:
		return nil, err
	case c := <-conns:
		return c, nil
	}
}

func serve(c net.Conn, ns *os.File, target string) {
	defer c.Close()
	u, err := dialIn(ns, target)
	if err != nil {
		fmt.Fprintf(os.Stderr, "nsforward: dial %s: %v\n", target, err)
		return
	}
	defer u.Close()
	done := make(chan struct{}, 2)
	go func() { io.Copy(u, c); u.(*net.TCPConn).CloseWrite(); done <- struct{}{} }()
	go func() { io.Copy(c, u); c.(*net.TCPConn).CloseWrite(); done <- struct{}{} }()
	<-done
	<-done
}
