//! Reading a kernel's messages more leniently than `jupyter-zmq-client`
//! does: JJava's headers lack `session`, which the crate's reader rejects
//! (and a failed read would end the client's iopub stream). The signature is
//! still checked; missing header strings read as empty, and a message whose
//! content cannot be understood is skipped instead of ending the stream.

use jupyter_protocol::{Header, JupyterMessage, JupyterMessageContent};
use jupyter_zmq_client::{Connection, RawMessage, RuntimeError};
use serde_json::Value;

/// The header fields a kernel may leave out that `Header` requires.
const HEADER_STRINGS: [&str; 5] = ["msg_id", "username", "session", "msg_type", "version"];

/// The next message on `conn` that can be understood; an error only when
/// the socket fails or a message's signature does not match.
pub(crate) async fn read<S: zeromq::SocketRecv + Send>(
    conn: &mut Connection<S>,
) -> Result<JupyterMessage, RuntimeError> {
    loop {
        let raw = RawMessage::from_multipart(conn.socket.recv().await?, &conn.mac)?;
        if let Some(message) = decode(raw) {
            return Ok(message);
        }
    }
}

fn decode(raw: RawMessage) -> Option<JupyterMessage> {
    let part = |i: usize| serde_json::from_slice::<Value>(raw.jparts.get(i)?).ok();
    let header = complete_header(part(0)?)?;
    let content = JupyterMessageContent::from_type_and_content(&header.msg_type, part(3)?).ok()?;
    // An empty parent (`{}`) reads as none.
    let parent_header = part(1).and_then(complete_header).filter(|h| !h.msg_id.is_empty());
    Some(JupyterMessage {
        zmq_identities: raw.zmq_identities.clone(),
        header,
        parent_header,
        metadata: part(2).unwrap_or(Value::Null),
        content,
        buffers: raw.jparts.get(4..).map(<[_]>::to_vec).unwrap_or_default(),
        channel: None,
    })
}

fn complete_header(mut header: Value) -> Option<Header> {
    let fields = header.as_object_mut()?;
    if fields.is_empty() {
        return None;
    }
    for key in HEADER_STRINGS {
        fields.entry(key).or_insert_with(|| Value::String(String::new()));
    }
    serde_json::from_value(header).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(parts: &[&str]) -> RawMessage {
        RawMessage { zmq_identities: Vec::new(), jparts: parts.iter().map(|p| p.as_bytes().to_vec().into()).collect() }
    }

    #[test]
    fn a_header_without_session_reads_and_an_empty_parent_is_none() {
        let header =
            r#"{"msg_id":"m1","username":"u","msg_type":"stream","version":"5.3","date":"2026-01-01T00:00:00Z"}"#;
        let parent = r#"{"msg_id":"p1","username":"u","session":"s","msg_type":"execute_request","version":"5.3"}"#;
        let message = decode(raw(&[header, parent, "{}", r#"{"name":"stdout","text":"hi\n"}"#])).expect("decoded");
        assert_eq!(message.header.session, "");
        assert_eq!(message.parent_header.map(|h| h.msg_id), Some("p1".to_owned()));
        assert!(matches!(message.content, JupyterMessageContent::StreamContent(_)));
        let orphan = decode(raw(&[header, "{}", "{}", r#"{"name":"stdout","text":"x"}"#])).expect("decoded");
        assert!(orphan.parent_header.is_none());
    }

    #[test]
    fn a_message_that_cannot_be_understood_is_skipped() {
        assert!(decode(raw(&["not json", "{}", "{}", "{}"])).is_none());
        let header = r#"{"msg_id":"m","msg_type":"stream","version":"5.3"}"#;
        assert!(decode(raw(&[header, "{}", "{}", r#"{"text": 3}"#])).is_none());
    }
}
