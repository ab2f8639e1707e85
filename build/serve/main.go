// Command serve serves the built site (build/site.sh) on a local address:
//
//	go run ./build/serve [-dir build/out/site] [-addr 127.0.0.1:8080]
package main

import (
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/austen-diffusion/textdiffusion/build/serve/static"
)

func main() {
	dir := flag.String("dir", "build/out/site", "folder to serve (the output of build/site.sh)")
	addr := flag.String("addr", "127.0.0.1:8080", "address to listen on")
	flag.Parse()
	if st, err := os.Stat(*dir); err != nil || !st.IsDir() {
		fmt.Fprintf(os.Stderr, "serve: %s is not a folder; build the site first (build/site.sh)\n", *dir)
		os.Exit(1)
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		fmt.Fprintf(os.Stderr, "serve: %v\n", err)
		os.Exit(1)
	}
	fmt.Printf("serving %s at http://%s/\n", *dir, ln.Addr())
	srv := &http.Server{Handler: logged(static.Handler(*dir)), ReadHeaderTimeout: 10 * time.Second}
	log.Fatal(srv.Serve(ln))
}

// logged prints one line a request.
func logged(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := &status{ResponseWriter: w, code: 200}
		start := time.Now()
		h.ServeHTTP(rec, r)
		log.Printf("%d %s %s (%s)", rec.code, r.Method, r.URL.Path, time.Since(start).Round(time.Millisecond))
	})
}

type status struct {
	http.ResponseWriter
	code int
}

func (s *status) WriteHeader(code int) {
	s.code = code
	s.ResponseWriter.WriteHeader(code)
}
