//! The transfers a batch hands out, each authorised by its grant alone (`Authorization:
//! RemoteAuth <grant>`, see `service::lfs::grant`), never by the caller's own credentials:
//! `PUT …/info/lfs/objects/<oid>` receives an upload, `GET` the same path streams a download,
//! `POST …/objects/<oid>/verify` confirms an upload. Bodies stream both ways; the bytes moved
//! count in `pushmirror_lfs_transfer_bytes_total`.

use std::pin::Pin;
use std::task::{Context, Poll};

use axum::body::Body;
use axum::extract::Request;
use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use futures_util::TryStreamExt;
use serde::Deserialize;
use tokio::io::{AsyncRead, ReadBuf};
use tokio_util::io::{ReaderStream, StreamReader};

use super::error::{LfsError, LFS_MEDIA_TYPE};
use crate::http::AppState;
use crate::metrics::LfsTransfer;
use crate::model::lfs::Oid;
use crate::service::lfs::grant::{redeem, SCHEME};
use crate::service::lfs::{transfer, Operation};

/// Bytes read from a stored object per chunk of a download's body.
const DOWNLOAD_CHUNK: usize = 64 * 1024;

/// The largest verify body read: it is `{"oid": …, "size": …}`.
const MAX_VERIFY_BODY: usize = 4096;

/// What a transfer path asks.
pub(in crate::http) enum Transfer {
    /// `objects/<oid>`: PUT uploads, GET downloads.
    Object(Oid),
    /// `objects/<oid>/verify`.
    Verify(Oid),
}

impl Transfer {
    /// Reads `rest`, the path below `info/lfs/`.
    pub(in crate::http) fn parse(rest: &str) -> Option<Transfer> {
        let rest = rest.strip_prefix("objects/")?;
        match rest.strip_suffix("/verify") {
            Some(oid) => Oid::parse(oid).map(Transfer::Verify),
            None => Oid::parse(rest).map(Transfer::Object),
        }
    }
}

#[derive(Debug, Deserialize)]
struct VerifyRequest {
    oid: String,
    size: u64,
}

/// The grant an action's `Authorization` header carries.
fn grant_token(headers: &HeaderMap) -> Result<&str, LfsError> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix(SCHEME))
        .and_then(|v| v.strip_prefix(' '))
        .map(str::trim)
        .ok_or(LfsError::Unauthorized)
}

// PUT|GET /<project>.git/info/lfs/objects/<oid>, POST …/objects/<oid>/verify
/// Serves one transfer.
pub(in crate::http) async fn handle(
    state: &AppState,
    transfer: Transfer,
    request: Request,
) -> Result<Response, LfsError> {
    let (parts, body) = request.into_parts();
    let token = grant_token(&parts.headers)?;
    match (transfer, parts.method) {
        (Transfer::Object(oid), Method::PUT) => {
            let (project, grant) = redeem(state, token, Operation::Upload, &oid).await?;
            let stream = body.into_data_stream().map_err(std::io::Error::other);
            let received =
                transfer::receive(state, &project, &grant, Box::pin(StreamReader::new(stream)))
                    .await?;
            state.metrics.lfs_transferred(LfsTransfer::Upload, received);
            Ok(StatusCode::OK.into_response())
        }
        (Transfer::Object(oid), Method::GET) => {
            let (project, _) = redeem(state, token, Operation::Download, &oid).await?;
            let read = transfer::open(state, &project, &oid).await?;
            let counted = Counted {
                inner: read.body,
                state: state.clone(),
            };
            Ok((
                StatusCode::OK,
                [
                    (header::CONTENT_TYPE, "application/octet-stream".to_owned()),
                    (header::CONTENT_LENGTH, read.size.to_string()),
                ],
                Body::from_stream(ReaderStream::with_capacity(counted, DOWNLOAD_CHUNK)),
            )
                .into_response())
        }
        (Transfer::Verify(oid), Method::POST) => {
            let (project, _) = redeem(state, token, Operation::Upload, &oid).await?;
            let bytes = axum::body::to_bytes(body, MAX_VERIFY_BODY)
                .await
                .map_err(|_| LfsError::Unprocessable("The verify body is too large".into()))?;
            let asked: VerifyRequest = serde_json::from_slice(&bytes).map_err(|e| {
                LfsError::Unprocessable(format!("The request body is not a verify request: {e}"))
            })?;
            if asked.oid != oid.as_str() {
                return Err(LfsError::Unprocessable(
                    "The body's oid is not the path's".into(),
                ));
            }
            transfer::verify(state, &project, &oid, asked.size).await?;
            Ok((
                StatusCode::OK,
                [(header::CONTENT_TYPE, LFS_MEDIA_TYPE)],
                "{}",
            )
                .into_response())
        }
        _ => Err(LfsError::MethodNotAllowed),
    }
}

/// A download's bytes as they are read, counted into the metrics.
struct Counted {
    inner: Pin<Box<dyn AsyncRead + Send>>,
    state: AppState,
}

impl AsyncRead for Counted {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let polled = self.inner.as_mut().poll_read(cx, buf);
        let read = buf.filled().len() - before;
        if read > 0 {
            self.state
                .metrics
                .lfs_transferred(LfsTransfer::Download, read as u64);
        }
        polled
    }
}
