package dashboard

import (
	"bytes"
	"context"
	"fmt"
	"io/fs"
	"path/filepath"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/nines-sre/nines/internal/atomicfile"
)

// Sink receives the exported files.
type Sink interface {
	Put(ctx context.Context, name, contentType string, body []byte) error
}

// Export renders the status page as static files, index.html, status.json,
// the stylesheet and the script that says how old a copy is, and hands each to every sink, so that a web server,
// bucket or CDN keeps serving a whole page while the controller is down.
func Export(ctx context.Context, src Source, sinks ...Sink) error {
	p, err := src.StatusPage(ctx)
	if err != nil {
		return fmt.Errorf("export: %w", err)
	}
	page, err := RenderStatus(p)
	if err != nil {
		return fmt.Errorf("export: render: %w", err)
	}
	js, err := StatusJSON(p)
	if err != nil {
		return err
	}
	css, err := fs.ReadFile(assetFS, "assets/style.css")
	if err != nil {
		return err
	}
	script, err := fs.ReadFile(assetFS, "assets/status.js")
	if err != nil {
		return err
	}
	files := []struct {
		name, ctype string
		body        []byte
	}{{"assets/style.css", "text/css; charset=utf-8", css}, {"assets/status.js", "text/javascript; charset=utf-8", script},
		{"status.json", "application/json", js}, {"index.html", "text/html; charset=utf-8", page}}
	for _, s := range sinks {
		for _, f := range files {
			if err := s.Put(ctx, f.name, f.ctype, f.body); err != nil {
				return fmt.Errorf("export %s: %w", f.name, err)
			}
		}
	}
	return nil
}

// Dir writes files under a directory, each replaced atomically.
type Dir string

// Put writes name.
func (d Dir) Put(_ context.Context, name, _ string, body []byte) error {
	return atomicfile.Write(filepath.Join(string(d), name), body)
}

// Bucket writes files to an S3-compatible bucket (AWS S3, MinIO, R2, ...).
type Bucket struct {
	client *minio.Client
	bucket string
	prefix string
}

// BucketOptions locate a bucket.
type BucketOptions struct {
	Endpoint  string // host[:port], e.g. s3.eu-central-1.amazonaws.com
	Bucket    string
	Prefix    string
	Region    string
	AccessKey string
	SecretKey string
	Insecure  bool // plain HTTP (a local MinIO)
	PathStyle bool // bucket in the path rather than the host name
}

// NewBucket connects to a bucket.
func NewBucket(o BucketOptions) (*Bucket, error) {
	lookup := minio.BucketLookupAuto
	if o.PathStyle {
		lookup = minio.BucketLookupPath
	}
	c, err := minio.New(o.Endpoint, &minio.Options{Creds: credentials.NewStaticV4(o.AccessKey, o.SecretKey, ""), Secure: !o.Insecure,
		Region: o.Region, BucketLookup: lookup})
	if err != nil {
		return nil, fmt.Errorf("bucket %s at %s: %w", o.Bucket, o.Endpoint, err)
	}
	return &Bucket{client: c, bucket: o.Bucket, prefix: o.Prefix}, nil
}

// Put uploads name with a short cache lifetime.
func (b *Bucket) Put(ctx context.Context, name, contentType string, body []byte) error {
	_, err := b.client.PutObject(ctx, b.bucket, b.prefix+name, bytes.NewReader(body), int64(len(body)),
		minio.PutObjectOptions{ContentType: contentType, CacheControl: "public, max-age=60"})
	return err
}
