package sender

import (
	"bytes"
	"context"
	"io"
	"net/http"
)

// NewHTTPRequest makes the POST of body to url for one attempt of a
// Sender, with a body that reports what the transport reads of it as
// bytes on the wire (ReportWireBytes): 0 when the request never reached
// the connection (refused, DNS or TLS failure), len(body) once it was
// written (twice that when the transport wrote it twice, retrying on a
// stale kept-alive connection). ctx must be the attempt's context.
func NewHTTPRequest(ctx context.Context, url string, body []byte) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, http.NoBody)
	if err != nil {
		return nil, err
	}
	ReportWireBytes(ctx, 0)
	if len(body) == 0 {
		return req, nil
	}
	req.ContentLength = int64(len(body))
	req.Body = wireBody{ctx: ctx, r: bytes.NewReader(body)}
	req.GetBody = func() (io.ReadCloser, error) {
		return wireBody{ctx: ctx, r: bytes.NewReader(body)}, nil
	}
	return req, nil
}

// wireBody counts what the HTTP transport reads of a request body: it
// reads it only to write it to the connection.
type wireBody struct {
	ctx context.Context
	r   *bytes.Reader
}

func (b wireBody) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	if n > 0 {
		addWireBytes(b.ctx, n)
	}
	return n, err
}

func (b wireBody) Close() error { return nil }
