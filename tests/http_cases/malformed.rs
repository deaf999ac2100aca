//! Malformed-response corpus: each case is the exact bytes a server sends and the exact
//! peer-fault variant the decoder must report. Ideas from llhttp's response tests, hyper's
//! and h11's client-side decoder tests, and our own smuggling and resource cases.

use mtls_core::http::{Limits, RemoteError};

pub struct Malformed {
    pub name: &'static str,
    pub bytes: Vec<u8>,
    /// Request methods, one per expected response.
    pub methods: &'static [&'static str],
    /// The request carried `Connection: close`.
    pub close_request: bool,
    pub eof: bool,
    pub limits: Limits,
    pub error: RemoteError,
}

fn case(name: &'static str, bytes: &[u8], error: RemoteError) -> Malformed {
    Malformed {
        name,
        bytes: bytes.to_vec(),
        methods: &["GET"],
        close_request: false,
        eof: false,
        limits: Limits::default(),
        error,
    }
}

fn eof(mut m: Malformed) -> Malformed {
    m.eof = true;
    m
}

fn with_limits(mut m: Malformed, limits: Limits) -> Malformed {
    m.limits = limits;
    m
}

fn methods(mut m: Malformed, methods: &'static [&'static str]) -> Malformed {
    m.methods = methods;
    m
}

fn cat(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}

fn owned(name: &'static str, bytes: Vec<u8>, error: RemoteError) -> Malformed {
    Malformed {
        bytes,
        ..case(name, b"", error)
    }
}

pub fn cases() -> Vec<Malformed> {
    use RemoteError::*;
    let small_body = Limits {
        max_body_size: 10,
        ..Limits::default()
    };
    let mut many_headers = b"HTTP/1.1 200 OK\r\n".to_vec();
    for i in 0..65 {
        many_headers.extend_from_slice(format!("X-{i}: v\r\n").as_bytes());
    }
    many_headers.extend_from_slice(b"Content-Length: 0\r\n\r\n");
    let mut many_trailers = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n".to_vec();
    for i in 0..65 {
        many_trailers.extend_from_slice(format!("T{i}: v\r\n").as_bytes());
    }
    many_trailers.extend_from_slice(b"\r\n");
    let mut many_exts = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
    for _ in 0..40 {
        many_exts.extend_from_slice(b"1;abcdefghijklmnopqrstuvwxyz=0\r\nx\r\n");
    }
    many_exts.extend_from_slice(b"0\r\n\r\n");

    vec![
        // ---- line endings (llhttp "bare LF/CR", h11 test_readers strictness) ----
        case("bare LF after status line", b"HTTP/1.1 200 OK\nContent-Length: 0\r\n\r\n", BareLf),
        case("bare LF after header", b"HTTP/1.1 200 OK\r\nContent-Length: 0\n\r\n", BareLf),
        case("bare LF as empty line", b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\n", BareLf),
        case("LF LF head", b"HTTP/1.1 200 OK\n\n", BareLf),
        case("bare CR after status line", b"HTTP/1.1 200 OK\rContent-Length: 0\r\n\r\n", BareCr),
        case("bare CR inside header value", b"HTTP/1.1 200 OK\r\nX: a\rb\r\n\r\n", BareCr),
        case("CR CR LF", b"HTTP/1.1 200 OK\r\r\n\r\n", BareCr),
        case("bare CR as empty line", b"HTTP/1.1 200 OK\r\nA: b\r\n\rX", BareCr),
        // ---- obs-fold ----
        case("obs-fold with SP", b"HTTP/1.1 200 OK\r\nX: a\r\n b\r\nContent-Length: 0\r\n\r\n", ObsFold),
        case("obs-fold with HTAB", b"HTTP/1.1 200 OK\r\nX: a\r\n\tb\r\n\r\n", ObsFold),
        case("space before first header", b"HTTP/1.1 200 OK\r\n Content-Length: 0\r\n\r\n", ObsFold),
        case(
            "obs-fold hiding Transfer-Encoding",
            b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX: y\r\n Transfer-Encoding: chunked\r\n\r\n",
            ObsFold,
        ),
        // ---- status line ----
        case("leading empty line", b"\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", InvalidStatusLine),
        case("HTTP/2.0", b"HTTP/2.0 200 OK\r\n\r\n", InvalidVersion),
        case("HTTP/1.2", b"HTTP/1.2 200 OK\r\n\r\n", InvalidVersion),
        case("lowercase protocol", b"http/1.1 200 OK\r\n\r\n", InvalidVersion),
        case("ICY protocol", b"ICY 200 OK\r\n\r\n", InvalidVersion),
        case("version only", b"HTTP/1.1\r\n\r\n", InvalidVersion),
        case("request line instead of status", b"GET / HTTP/1.1\r\n\r\n", InvalidVersion),
        case("two-digit status", b"HTTP/1.1 20 OK\r\n\r\n", InvalidStatusCode),
        case("four-digit status", b"HTTP/1.1 2000 OK\r\n\r\n", InvalidStatusCode),
        case("alphabetic status", b"HTTP/1.1 abc OK\r\n\r\n", InvalidStatusCode),
        case("status below 100", b"HTTP/1.1 099 OK\r\nContent-Length: 0\r\n\r\n", InvalidStatusCode),
        case("double space before status", b"HTTP/1.1  200 OK\r\n\r\n", InvalidStatusCode),
        case("control byte in reason", b"HTTP/1.1 200 O\x01K\r\n\r\n", InvalidStatusLine),
        case("NUL in reason", b"HTTP/1.1 200 OK\x00\r\n\r\n", InvalidStatusLine),
        case("DEL in reason", b"HTTP/1.1 200 OK\x7f\r\n\r\n", InvalidStatusLine),
        // ---- header fields ----
        case("space before colon", b"HTTP/1.1 200 OK\r\nContent-Length : 5\r\n\r\nhello", InvalidHeaderName),
        case("header without colon", b"HTTP/1.1 200 OK\r\nContent-Length\r\n\r\n", InvalidHeaderName),
        case("empty header name", b"HTTP/1.1 200 OK\r\n: v\r\n\r\n", InvalidHeaderName),
        case("space inside header name", b"HTTP/1.1 200 OK\r\nX Y: v\r\n\r\n", InvalidHeaderName),
        case("non-token byte in name", b"HTTP/1.1 200 OK\r\nX@Y: v\r\n\r\n", InvalidHeaderName),
        case("non-ASCII header name", b"HTTP/1.1 200 OK\r\nX-\xc3\xa9: v\r\n\r\n", InvalidHeaderName),
        case("NUL in header value", b"HTTP/1.1 200 OK\r\nX: a\x00b\r\n\r\n", InvalidHeaderValue),
        case("DEL in header value", b"HTTP/1.1 200 OK\r\nX: a\x7fb\r\n\r\n", InvalidHeaderValue),
        case("control byte in header value", b"HTTP/1.1 200 OK\r\nX: a\x01b\r\n\r\n", InvalidHeaderValue),
        // ---- upgrade ----
        case(
            "101 Switching Protocols",
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n",
            SwitchingProtocols,
        ),
        // ---- Content-Length / Transfer-Encoding (smuggling shapes) ----
        case(
            "Content-Length then Transfer-Encoding",
            b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
            ContentLengthWithTransferEncoding,
        ),
        case(
            "Transfer-Encoding then Content-Length",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n",
            ContentLengthWithTransferEncoding,
        ),
        case(
            "CL+TE on a 204 still rejected",
            b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\nTransfer-Encoding: chunked\r\n\r\n",
            ContentLengthWithTransferEncoding,
        ),
        case(
            "two different Content-Length headers",
            b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!",
            ConflictingContentLength,
        ),
        case("Content-Length list with different values", b"HTTP/1.1 200 OK\r\nContent-Length: 5, 6\r\n\r\n", ConflictingContentLength),
        methods(
            case("conflicting Content-Length on HEAD response", b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", ConflictingContentLength),
            &["HEAD"],
        ),
        case("Content-Length +8", b"HTTP/1.1 200 OK\r\nContent-Length: +8\r\n\r\n", InvalidContentLength),
        case("Content-Length -1", b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", InvalidContentLength),
        case("Content-Length with inner space", b"HTTP/1.1 200 OK\r\nContent-Length: 1 2\r\n\r\n", InvalidContentLength),
        case("empty Content-Length", b"HTTP/1.1 200 OK\r\nContent-Length: \r\n\r\n", InvalidContentLength),
        case("hex Content-Length", b"HTTP/1.1 200 OK\r\nContent-Length: 0x10\r\n\r\n", InvalidContentLength),
        case("Content-Length with empty list element", b"HTTP/1.1 200 OK\r\nContent-Length: 5,\r\n\r\n", InvalidContentLength),
        case("fractional Content-Length", b"HTTP/1.1 200 OK\r\nContent-Length: 1.5\r\n\r\n", InvalidContentLength),
        case("Content-Length with unit", b"HTTP/1.1 200 OK\r\nContent-Length: 5 bytes\r\n\r\n", InvalidContentLength),
        case("Content-Length 2^64", b"HTTP/1.1 200 OK\r\nContent-Length: 18446744073709551616\r\n\r\n", ContentLengthOverflow),
        case("Content-Length far beyond u64", b"HTTP/1.1 200 OK\r\nContent-Length: 999999999999999999999999999\r\n\r\n", ContentLengthOverflow),
        case("Content-Length over the body limit", b"HTTP/1.1 200 OK\r\nContent-Length: 9000000\r\n\r\n", BodyTooLarge),
        case("Transfer-Encoding in HTTP/1.0", b"HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", TransferEncodingInHttp10),
        case("Transfer-Encoding gzip", b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n", UnsupportedTransferEncoding),
        case("Transfer-Encoding gzip, chunked", b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n", UnsupportedTransferEncoding),
        case("chunked not last", b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", UnsupportedTransferEncoding),
        case("chunked twice in one header", b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, chunked\r\n\r\n", UnsupportedTransferEncoding),
        case("chunked in two headers", b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n", UnsupportedTransferEncoding),
        case("empty Transfer-Encoding", b"HTTP/1.1 200 OK\r\nTransfer-Encoding: \r\n\r\n", UnsupportedTransferEncoding),
        case("Transfer-Encoding identity", b"HTTP/1.1 200 OK\r\nTransfer-Encoding: identity\r\n\r\nabc", UnsupportedTransferEncoding),
        case("chunked with trailing garbage", b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunkedx\r\n\r\n", UnsupportedTransferEncoding),
        // ---- chunk sizes ----
        case("non-hex chunk size", b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nxyz\r\n", InvalidChunkSize),
        case("empty chunk-size line", b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n\r\n", InvalidChunkSize),
        case("negative chunk size", b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n-1\r\n", InvalidChunkSize),
        case("0x-prefixed chunk size", b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0x5\r\nhello\r\n0\r\n\r\n", InvalidChunkSize),
        case("plus-signed chunk size", b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n+5\r\nhello\r\n", InvalidChunkSize),
        case("space before chunk size", b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n 5\r\nhello\r\n", InvalidChunkSize),
        case("chunk size 2^64", b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n10000000000000000\r\n", ChunkSizeOverflow),
        case("chunk size 17 f's", b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nfffffffffffffffff\r\n", ChunkSizeOverflow),
        case("chunk size over the body limit", b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffff\r\n", BodyTooLarge),
        case("chunk size line with bare LF", b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\nhello\r\n0\r\n\r\n", BareLf),
        case("chunk size line with bare CR", b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\rhello\r\n", BareCr),
        // ---- chunk extensions ----
        case("trailing space after chunk size", b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5 \r\nhello\r\n0\r\n\r\n", InvalidChunkExtension),
        case("chunk extension without name", b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;\r\nhello\r\n0\r\n\r\n", InvalidChunkExtension),
        case("chunk extension with empty value", b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;a=\r\nhello\r\n0\r\n\r\n", InvalidChunkExtension),
        case("unterminated quoted chunk extension", b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;a=\"b\r\nhello\r\n", InvalidChunkExtension),
        case("control byte in chunk extension", b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;a\x01\r\nhello\r\n", InvalidChunkExtension),
        owned(
            "one chunk extension over the limit",
            cat(&[
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;a=",
                &[b'b'; 1100],
                b"\r\nhello\r\n0\r\n\r\n",
            ]),
            ChunkExtensionsTooLarge,
        ),
        owned("small chunk extensions adding up over the limit", many_exts, ChunkExtensionsTooLarge),
        // ---- chunk data terminator ----
        case("chunk data without CRLF", b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhelloX0\r\n\r\n", BadChunkTerminator),
        case("chunk data followed by bare LF", b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\n0\r\n\r\n", BadChunkTerminator),
        case("chunk data followed by CR X", b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\rX", BadChunkTerminator),
        case("chunk longer than its size", b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nhello\r\n0\r\n\r\n", BadChunkTerminator),
        // ---- trailers ----
        case("obs-fold in trailers", b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX: a\r\n b\r\n\r\n", ObsFold),
        case("invalid trailer name", b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nBad Name: x\r\n\r\n", InvalidTrailer),
        case("trailer without colon", b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nNoColon\r\n\r\n", InvalidTrailer),
        case("trailer with bare LF", b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX: a\n\r\n", BareLf),
        owned(
            "trailers over the limit",
            cat(&[
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX-Big: ",
                &[b'v'; 5000],
                b"\r\n\r\n",
            ]),
            TrailersTooLarge,
        ),
        owned("too many trailer fields", many_trailers, TooManyHeaders),
        // ---- head limits ----
        owned("too many header fields", many_headers, TooManyHeaders),
        owned(
            "header line over the limit",
            cat(&[b"HTTP/1.1 200 OK\r\nX-Long: ", &[b'a'; 8200], b"\r\n\r\n"]),
            LineTooLong,
        ),
        owned(
            "status line over the limit",
            cat(&[b"HTTP/1.1 200 ", &[b'R'; 8200], b"\r\n\r\n"]),
            LineTooLong,
        ),
        owned(
            "head over the limit",
            cat(&[
                b"HTTP/1.1 200 OK\r\nA: ",
                &[b'a'; 6000],
                b"\r\nB: ",
                &[b'b'; 6000],
                b"\r\nC: ",
                &[b'c'; 6000],
                b"\r\n\r\n",
            ]),
            HeadTooLarge,
        ),
        owned(
            "chunk-size line over the limit (leading zeros)",
            cat(&[
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
                &[b'0'; 8300],
                b"5\r\nhello\r\n",
            ]),
            LineTooLong,
        ),
        with_limits(
            case("chunked body over the limit", b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n6\r\nhello \r\n6\r\nworld!\r\n0\r\n\r\n", BodyTooLarge),
            small_body,
        ),
        with_limits(
            eof(case("close-delimited body over the limit", b"HTTP/1.1 200 OK\r\n\r\n0123456789abc", BodyTooLarge)),
            small_body,
        ),
        // ---- truncation (never a short body) ----
        eof(case("end of stream before any byte", b"", ClosedBeforeResponse)),
        eof(case("end of stream in status line", b"HTTP/1.1 20", TruncatedHead)),
        eof(case("end of stream in headers", b"HTTP/1.1 200 OK\r\nContent-Len", TruncatedHead)),
        eof(case("end of stream before empty line", b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n", TruncatedHead)),
        eof(case("end of stream after CR of empty line", b"HTTP/1.1 200 OK\r\n\r", TruncatedHead)),
        eof(case("end of stream after 100 Continue", b"HTTP/1.1 100 Continue\r\n\r\n", ClosedBeforeResponse)),
        eof(case("end of stream right after head", b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", TruncatedBody)),
        eof(case("end of stream in Content-Length body", b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhel", TruncatedBody)),
        eof(case("end of stream in chunk-size line", b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5", TruncatedBody)),
        eof(case("end of stream in chunk data", b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel", TruncatedBody)),
        eof(case("end of stream before chunk CRLF", b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r", TruncatedBody)),
        eof(case("end of stream before last chunk", b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n", TruncatedBody)),
        eof(case("end of stream in trailers", b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX: y\r\n", TruncatedBody)),
        eof(case("end of stream after last chunk", b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n", TruncatedBody)),
        eof(case(
            "partial next response left at end of stream",
            b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\nHTTP/1.1 2",
            TruncatedHead,
        )),
        // ---- bytes after a closing response ----
        case(
            "bytes after Connection: close response",
            b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nokHTTP/1.1 200 OK\r\n\r\n",
            DataAfterClose,
        ),
        case(
            "bytes after HTTP/1.0 response without keep-alive",
            b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok\r\n",
            DataAfterClose,
        ),
        Malformed {
            close_request: true,
            ..case(
                "bytes after response to a close request",
                b"HTTP/1.1 204 No Content\r\n\r\nX",
                DataAfterClose,
            )
        },
        case(
            "smuggled second response after close",
            b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
            DataAfterClose,
        ),
        // ---- errors in a later response on a kept-alive connection ----
        methods(
            case(
                "second response has CL and TE",
                b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nxHTTP/1.1 200 OK\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n",
                ContentLengthWithTransferEncoding,
            ),
            &["GET", "GET"],
        ),
        case(
            "1xx followed by a broken final response",
            b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\nX: y\r\n\r\n",
            BareLf,
        ),
        case(
            "broken 1xx",
            b"HTTP/1.1 100 Continue\r\nX : y\r\n\r\nHTTP/1.1 200 OK\r\n\r\n",
            InvalidHeaderName,
        ),
    ]
}
