//! An SSH channel's incoming data as one owned [`AsyncRead`], so a git process (or the push's
//! command-list reader) can take it as its stdin without knowing SSH. The client's EOF ends the
//! stream; a channel that closes (or a connection that drops) without EOF is an error, so a
//! push cut short mid-pack kills its git instead of handing it a truncated pack.

use std::io;

use bytes::Bytes;
use russh::{ChannelMsg, ChannelReadHalf};
use tokio::io::AsyncRead;
use tokio_util::io::StreamReader;

/// The data the client sends on `read`'s channel, until its EOF.
pub fn reader(read: ChannelReadHalf) -> impl AsyncRead + Send + Unpin + 'static {
    let stream = futures_util::stream::unfold(Some(read), |state| async move {
        let mut read = state?;
        loop {
            match read.wait().await {
                Some(ChannelMsg::Data { data }) => return Some((Ok::<Bytes, _>(data), Some(read))),
                Some(ChannelMsg::Eof) => return None,
                // Requests on the channel (its exec, a window change, a signal) are not input.
                Some(ChannelMsg::Close) | None => {
                    let gone = io::Error::new(
                        io::ErrorKind::ConnectionAborted,
                        "the SSH channel closed before its end of input",
                    );
                    return Some((Err(gone), None));
                }
                Some(_) => continue,
            }
        }
    });
    StreamReader::new(Box::pin(stream))
}
