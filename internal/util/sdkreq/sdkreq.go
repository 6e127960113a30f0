// Package sdkreq holds AWS SDK for Go v2 API options that Postern's own SDK
// clients (the CLI's commands, the console's browser terminal) add to every
// call.
package sdkreq

import (
	"context"
	"fmt"
	"io"

	"github.com/aws/smithy-go/middleware"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// BodyWithoutWriteTo is an SDK API option: each attempt's request
// body reaches net/http as a reader that does not implement io.WriterTo.
//
// Why: smithy-go wraps the body in a closer whose WriteTo answers io.EOF
// once the SDK has closed it, and the SDK closes it as soon as the
// response's headers are in. net/http's request writer reads the body
// once more after its Content-Length bytes (to find extra bytes), through
// WriteTo when the body has one; when the server answered before that
// last read (it had the whole body), the writer took the EOF for a write
// error and closed the connection under the response still being read.
// The SDK then failed the read ("use of closed network connection") and
// retried after its back-off: 0.3–2 s added to ~2 % of open-tunnel's
// look-ups on loopback (aws/aws-sdk-go-v2 issues 1825 and 2737 are this
// failure, seen with DynamoDB; the SDK made it retryable). Without
// WriteTo, that last read answers (0, io.EOF) through Read, which is the
// end of the body, not an error.
//
// The body stays seekable, so a retried attempt rewinds and resends it.
// The option is the last step before the request is sent (the innermost
// of the deserialize step): --debug's request logger, earlier in that step,
// sets the body anew.
func BodyWithoutWriteTo(stack *middleware.Stack) error {
	return stack.Deserialize.Add(middleware.DeserializeMiddlewareFunc("PosternRequestBodyWithoutWriteTo",
		func(ctx context.Context, in middleware.DeserializeInput, next middleware.DeserializeHandler) (middleware.DeserializeOutput, middleware.Metadata, error) {
			req, ok := in.Request.(*smithyhttp.Request)
			if !ok {
				return next.HandleDeserialize(ctx, in)
			}
			s := req.GetStream()
			if _, wt := s.(io.WriterTo); !wt {
				return next.HandleDeserialize(ctx, in)
			}
			var body io.Reader = struct{ io.Reader }{s}
			if rs, ok := s.(io.ReadSeeker); ok {
				body = struct{ io.ReadSeeker }{rs}
			}
			r, err := req.SetStream(body)
			if err != nil {
				return middleware.DeserializeOutput{}, middleware.Metadata{}, fmt.Errorf("request body: %w", err)
			}
			in.Request = r
			return next.HandleDeserialize(ctx, in)
		}), middleware.After)
}
