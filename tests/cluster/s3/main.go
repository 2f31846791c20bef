// Command s3 serves an S3-compatible API on loopback for the test cluster's
// artifact repository: github.com/johannesboyne/gofakes3 (MIT) over a folder,
// with Go's net/http (HTTP/1.1 keep-alive). gofakes3 checks no credentials; this
// main refuses a request whose AWS Signature V4 credential names another access
// key id (the signature itself is not verified).
package main

import (
	"flag"
	"log"
	"net"
	"net/http"
	"os"
	"strings"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3afero"
	"github.com/spf13/afero"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:9000", "listen address (loopback)")
	dir := flag.String("dir", "", "folder that holds the buckets")
	bucket := flag.String("bucket", "", "bucket to create at start")
	flag.Parse()
	access, secret := os.Getenv("S3_ACCESS_KEY"), os.Getenv("S3_SECRET_KEY")
	if *dir == "" || access == "" || secret == "" {
		log.Fatal("--dir, S3_ACCESS_KEY and S3_SECRET_KEY are required")
	}
	if err := os.MkdirAll(*dir, 0o700); err != nil {
		log.Fatal(err)
	}
	backend, err := s3afero.MultiBucket(afero.NewBasePathFs(afero.NewOsFs(), *dir))
	if err != nil {
		log.Fatal(err)
	}
	faker := gofakes3.New(backend, gofakes3.WithoutVersioning())
	if *bucket != "" {
		if err := backend.CreateBucket(*bucket); err != nil && !gofakes3.HasErrorCode(err, gofakes3.ErrBucketAlreadyExists) {
			log.Fatal(err)
		}
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	log.Printf("s3 listening on %s", ln.Addr())
	log.Fatal(http.Serve(ln, keyCheck(access, faker.Server())))
}

// keyCheck answers 403 AccessDenied unless the request's SigV4 credential (header
// or presigned query) names access key id `access`.
func keyCheck(access string, next http.Handler) http.Handler {
	want := "Credential=" + access + "/"
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		auth := r.Header.Get("Authorization")
		cred := r.URL.Query().Get("X-Amz-Credential")
		if !strings.Contains(auth, want) && !strings.HasPrefix(cred, access+"/") {
			w.Header().Set("Content-Type", "application/xml")
			w.WriteHeader(http.StatusForbidden)
			_, _ = w.Write([]byte(`<?xml version="1.0" encoding="UTF-8"?><Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>`))
			return
		}
		next.ServeHTTP(w, r)
	})
}
